//! Orca's webhook integration: its "API Key" field is sent as the `Authorization` header
//! verbatim (deployments write `Bearer <token>`), and the template posts the alert. Bodies in
//! the alert query's shape (an alert, or `{data: [...]}`) map; what Orca's default template
//! sends is UNCONFIRMED.

use crate::vendors::webhook::{WebhookKit, any_secret, no_native, token};

/// Orca's push.
pub const KIT: WebhookKit = WebhookKit {
    auth: "Authorization: Bearer <secret> (the integration's API Key field)",
    verify: token,
    item_paths: &[&[]],
    secret_format: any_secret,
    native: no_native,
};
