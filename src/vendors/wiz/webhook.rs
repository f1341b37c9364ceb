//! Wiz automation rules with a webhook action: the action authenticates with a token
//! (`Authorization: Bearer <token>`) or Basic credentials, and its body is a template. The
//! template must carry the issue in the GraphQL API's field names under `issue` (or be the
//! issue itself); Wiz's default template's smaller issue object is UNCONFIRMED to map.

use crate::vendors::webhook::{WebhookKit, any_secret, token_or_basic};

/// Wiz's push.
pub const KIT: WebhookKit = WebhookKit {
    auth: "Authorization: Bearer <secret> (the action's token) or Basic <user:secret>",
    verify: token_or_basic,
    item_paths: &[&["issue"], &["data", "issue"], &[]],
    secret_format: any_secret,
    native: super::push::native,
};
