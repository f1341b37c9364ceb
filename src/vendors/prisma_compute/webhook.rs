//! Prisma Cloud Compute's webhook alert provider: a custom JSON template posted to a URL,
//! with optional HTTP Basic credentials (UNCONFIRMED beyond the console's form). The
//! template must put the audit or scan result in the API's field names, as the list
//! endpoints return them; the body is one item or an array of them.

use crate::vendors::webhook::{WebhookKit, any_secret, no_native, token_or_basic};

/// Prisma Cloud Compute's push.
pub const KIT: WebhookKit = WebhookKit {
    auth: "Authorization: Basic <user:secret> (the alert provider's credentials) or Bearer <secret>",
    verify: token_or_basic,
    item_paths: &[&[]],
    secret_format: any_secret,
    native: no_native,
};
