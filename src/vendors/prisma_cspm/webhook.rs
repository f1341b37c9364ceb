//! Prisma Cloud CSPM's webhook integration: it posts the alerts of its notification rules to
//! a URL with the custom headers configured on the integration (UNCONFIRMED which header
//! name deployments use; `Authorization: Bearer <secret>` is what docs/listen.md tells the
//! administrator to configure). The body is a JSON array of alerts.

use crate::vendors::webhook::{WebhookKit, any_secret, token};

/// Prisma Cloud CSPM's push.
pub const KIT: WebhookKit = WebhookKit {
    auth: "Authorization: Bearer <secret> (a custom header on the webhook integration)",
    verify: token,
    item_paths: &[&[]],
    secret_format: any_secret,
    native: super::push::native,
};
