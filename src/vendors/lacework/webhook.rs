//! Lacework alert channels of type webhook: the channel is only a URL, so the secret goes in
//! it as `?api-token=<secret>` (what Lacework's Terraform provider documents for receivers
//! that need a token). The channel's own body is a short event summary; only bodies in the
//! Alerts API's shape (an alert, or a list `{data: [...]}`, e.g. from a relay that fetched
//! the details) map to alerts.

use crate::vendors::webhook::{WebhookKit, any_secret, query_token};

/// Lacework's push.
pub const KIT: WebhookKit = WebhookKit {
    auth: "?api-token=<secret> in the channel's URL",
    verify: query_token,
    item_paths: &[&[]],
    secret_format: any_secret,
    native: super::push::native,
};
