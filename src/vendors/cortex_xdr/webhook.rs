//! Cortex XDR documents no webhook push of its own (its notification forwarding goes to
//! email, Slack and syslog); alerts reach `sitrep listen` through a relay, such as an XSOAR
//! playbook, that signs with Standard Webhooks. Its body is an alert or incident as the
//! public API returns it, or the API's `{reply: {...}}` envelope.

use crate::vendors::webhook::{WebhookKit, no_native, standard_webhooks, whsec_secret};

/// Cortex XDR's push (through a signing relay).
pub const KIT: WebhookKit = WebhookKit {
    auth: "Standard Webhooks from a relay (webhook-id, webhook-timestamp, webhook-signature)",
    verify: standard_webhooks,
    item_paths: &[&[]],
    secret_format: whsec_secret,
    native: no_native,
};
