//! Alert pushes (`sitrep listen`): how each vendor proves a delivery is its own, and where
//! in the pushed body the alerts are. Each vendor's `webhook.rs` names one [`WebhookKit`]
//! built from the checks here; docs/listen.md has the table of what each vendor sends.
//!
//! None of the five vendors documents an HMAC over its own pushes: they send a token the
//! receiver chose (a header, HTTP Basic, or a URL parameter), so those deliveries carry no
//! signed timestamp and cannot be protected against replay beyond TLS. A relay that signs
//! with Standard Webhooks ([`standard_webhooks`]) gets the tolerance window and the
//! remembered-signature set.

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::config::Secret;
use crate::domain::{Alert, Vendor};
use crate::sources::{ItemPaths, MapError};

/// One delivery as the receiver got it. The body is the raw bytes (signatures are over them).
pub struct Delivery<'a> {
    pub headers: &'a HeaderMap,
    /// The URL's query parameters, percent-decoded.
    pub query: &'a [(String, String)],
    pub body: &'a [u8],
    /// The receiver's clock, Unix seconds.
    pub now_s: i64,
}

/// What a verified delivery says about itself, for replay protection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Proof {
    /// A key naming this exact signed delivery and the time it was signed (Unix seconds):
    /// the receiver refuses the same key again while the timestamp is inside the window.
    /// None for schemes without a signed timestamp.
    pub replay: Option<(String, i64)>,
}

/// A vendor's push: how it authenticates and where its alerts are.
#[derive(Clone, Copy)]
pub struct WebhookKit {
    /// How the vendor authenticates, one line for docs, logs and `sitrep listen`'s start.
    pub auth: &'static str,
    /// Check a delivery against the source's webhook secret. The error is one line naming
    /// what failed, never the secret or the presented value.
    pub verify: fn(&Delivery<'_>, &Secret) -> Result<Proof, String>,
    /// Where the pushed body keeps alerts (`[]`: the body itself, an item or a list); each
    /// value found is mapped by the vendor's mapper. The first path present wins.
    pub item_paths: ItemPaths,
    /// Whether a secret can work with this scheme at all, asked when the receiver starts,
    /// so a malformed one is a start-up error rather than every delivery refused.
    pub secret_format: fn(&Secret) -> Result<(), String>,
    /// The vendor's own push body (what it sends by default, not the API's shape), sniffed
    /// and mapped: None when the body is not that shape, and the API-shaped path at
    /// `item_paths` reads it instead. Its alerts are partial (see [`NativeFn`]).
    pub native: NativeFn,
}

/// Maps a vendor's own push body into the alerts a sync of the same findings gives (same
/// native ids), or None when the body is not in that shape. Those bodies are summaries:
/// what they lack is left empty, for the receiver to complete from the stored alert.
pub type NativeFn = fn(&Value) -> Option<Result<Vec<Alert>, MapError>>;

/// The [`WebhookKit::native`] of a vendor whose pushes are only ever API-shaped.
pub fn no_native(_body: &Value) -> Option<Result<Vec<Alert>, MapError>> {
    None
}

/// The items of a push body that may be one notification or an array of them, when every
/// item passes `is_native` (an empty array is not a native body: nothing says whose it is).
pub fn native_items(body: &Value, is_native: fn(&Value) -> bool) -> Option<Vec<&Value>> {
    match body {
        Value::Array(items) if !items.is_empty() && items.iter().all(is_native) => {
            Some(items.iter().collect())
        }
        v @ Value::Object(_) if is_native(v) => Some(vec![v]),
        _ => None,
    }
}

/// Map each native item through `to_api` (the item rewritten in the API's field names) and
/// the vendor's own list-item mapper, keeping the pushed notification as the alert's raw
/// payload: one mapping of facts to fields, whichever way an alert came.
pub fn map_native(
    items: &[&Value],
    to_api: fn(&Value) -> Value,
    map: fn(&Value) -> Result<Vec<Alert>, MapError>,
) -> Result<Vec<Alert>, MapError> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        for mut a in map(&to_api(item))? {
            a.raw = crate::domain::RawJson::of(item);
            // A notification's time is when the alert was raised, not when it last changed:
            // as the change time it would make a later push look older than a sync. The
            // receiver keeps the stored times instead (a vendor may set them back).
            a.vendor_updated = None;
            a.last_seen = None;
            out.push(a);
        }
    }
    Ok(out)
}

/// A vendor's [`NativeFn`] from its parts: the body's items when each `is_native`, each
/// mapped by [`map_native`].
pub fn native_with(
    body: &Value,
    is_native: fn(&Value) -> bool,
    to_api: fn(&Value) -> Value,
    map: fn(&Value) -> Result<Vec<Alert>, MapError>,
) -> Option<Result<Vec<Alert>, MapError>> {
    let items = native_items(body, is_native)?;
    Some(map_native(&items, to_api, map))
}

/// Copy the fields at `(to, from)` paths of `src` that are present (not null, not an empty
/// string) into a new object, for building API-shaped items from push bodies without
/// inventing values the push did not carry.
pub fn pick(src: &Value, fields: &[(&str, &str)]) -> Value {
    let mut out = serde_json::Map::new();
    for (to, from) in fields {
        let v = from
            .split('.')
            .try_fold(src, |at, k| at.get(k))
            .filter(|v| !v.is_null() && v.as_str() != Some(""));
        if let Some(v) = v {
            out.insert((*to).to_string(), v.clone());
        }
    }
    Value::Object(out)
}

/// The kit of the scheme a source's `webhook_auth` option names, or None for an unknown one.
pub fn scheme(name: &str) -> Option<&'static WebhookKit> {
    match name {
        "standard-webhooks" => Some(&STANDARD_WEBHOOKS),
        _ => None,
    }
}

/// The scheme names [`scheme`] knows, for errors.
pub const SCHEMES: &[&str] = &["standard-webhooks"];

/// Standard Webhooks from a signing relay, whatever the vendor: the vendor's own item paths
/// still apply (the kit is combined with them by [`for_source`]).
const STANDARD_WEBHOOKS: WebhookKit = WebhookKit {
    auth: "Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature: v1,<HMAC-SHA256>)",
    verify: standard_webhooks,
    item_paths: &[&[]],
    secret_format: whsec_secret,
    native: no_native,
};

/// The verification for a source of `vendor`: the vendor's kit, or the scheme
/// `auth_override` names with the vendor's item paths.
pub fn for_source(vendor: Vendor, auth_override: Option<&str>) -> Result<WebhookKit, String> {
    let own = super::kit(vendor).webhook;
    match auth_override {
        None => Ok(*own),
        Some(name) => match scheme(name) {
            Some(k) => Ok(WebhookKit {
                item_paths: own.item_paths,
                native: own.native,
                ..*k
            }),
            None => Err(format!(
                "webhook_auth '{}' is not known; expected one of {}",
                crate::sanitize::one_line(name),
                SCHEMES.join(", ")
            )),
        },
    }
}

/// A [`WebhookKit::verify`].
pub type VerifyFn = fn(&Delivery<'_>, &Secret) -> Result<Proof, String>;

/// Any non-empty secret (the credential machinery refuses empty ones already).
pub fn any_secret(_secret: &Secret) -> Result<(), String> {
    Ok(())
}

/// A Standard Webhooks `whsec_<base64>` key of a usable length.
pub fn whsec_secret(secret: &Secret) -> Result<(), String> {
    crate::config::notify::key_bytes(secret).map(|_| ())
}

/// Equal bytes, in time that depends on the lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorization<'a>(d: &Delivery<'a>) -> Result<&'a str, String> {
    d.headers
        .get(reqwest::header::AUTHORIZATION)
        .ok_or_else(|| "no Authorization header".to_string())?
        .to_str()
        .map(str::trim)
        .map_err(|_| "the Authorization header is not text".to_string())
}

/// `Authorization: Bearer <secret>` (also `Token <secret>`, or the bare secret: vendors
/// that send a configured header value verbatim differ in the scheme word).
pub fn token(d: &Delivery<'_>, secret: &Secret) -> Result<Proof, String> {
    let value = authorization(d)?;
    let presented = ["bearer ", "token "]
        .iter()
        .find_map(|p| {
            value
                .get(..p.len())
                .filter(|head| head.eq_ignore_ascii_case(p))
                .map(|_| value[p.len()..].trim())
        })
        .unwrap_or(value);
    if same(presented.as_bytes(), secret.expose().as_bytes()) {
        Ok(Proof::default())
    } else {
        Err("the Authorization token does not match the webhook secret".into())
    }
}

/// `Authorization: Basic base64(user:secret)`: any user name, the password is the secret.
pub fn basic(d: &Delivery<'_>, secret: &Secret) -> Result<Proof, String> {
    use base64::Engine as _;
    let value = authorization(d)?;
    let b64 = value
        .get(..6)
        .filter(|h| h.eq_ignore_ascii_case("basic "))
        .map(|_| value[6..].trim())
        .ok_or_else(|| "the Authorization header is not Basic".to_string())?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "the Basic credentials are not base64".to_string())?;
    let password = raw
        .iter()
        .position(|b| *b == b':')
        .map(|i| &raw[i + 1..])
        .ok_or_else(|| "the Basic credentials have no user:password".to_string())?;
    if same(password, secret.expose().as_bytes()) {
        Ok(Proof::default())
    } else {
        Err("the Basic password does not match the webhook secret".into())
    }
}

/// [`token`] or [`basic`], whichever the `Authorization` header uses.
pub fn token_or_basic(d: &Delivery<'_>, secret: &Secret) -> Result<Proof, String> {
    let is_basic = authorization(d)?
        .get(..6)
        .is_some_and(|h| h.eq_ignore_ascii_case("basic "));
    if is_basic {
        basic(d, secret)
    } else {
        token(d, secret)
    }
}

/// The secret as a URL parameter (`?api-token=<secret>`), for senders that can set no header.
pub fn query_token(d: &Delivery<'_>, secret: &Secret) -> Result<Proof, String> {
    const NAMES: &[&str] = &["api-token", "token"];
    let presented = d
        .query
        .iter()
        .find(|(k, _)| NAMES.contains(&k.as_str()))
        .map(|(_, v)| v.as_str())
        .ok_or_else(|| "no api-token URL parameter".to_string())?;
    if same(presented.as_bytes(), secret.expose().as_bytes()) {
        Ok(Proof::default())
    } else {
        Err("the api-token URL parameter does not match the webhook secret".into())
    }
}

/// Standard Webhooks (docs/integrations.md §1.5), checked by `crate::signature`: the
/// timestamp within its tolerance and a `v1,` signature matching. The replay key is the
/// message id with its timestamp: a sender's retry signs again with a new timestamp, a
/// replay repeats both.
pub fn standard_webhooks(d: &Delivery<'_>, secret: &Secret) -> Result<Proof, String> {
    crate::signature::verify(secret, d.headers, d.body, d.now_s)?;
    let get = |k: &str| {
        d.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .unwrap_or_default()
    };
    let ts: i64 = get("webhook-timestamp").parse().unwrap_or(d.now_s);
    Ok(Proof {
        replay: Some((format!("{}.{ts}", get("webhook-id")), ts)),
    })
}

/// The values at the first of `paths` present in `body` (an array's elements, or the value
/// itself), or the body itself when none is.
pub fn pushed_items(body: &Value, paths: ItemPaths) -> Vec<&Value> {
    for path in paths {
        if path.is_empty() {
            continue;
        }
        let mut at = Some(body);
        for key in *path {
            at = at.and_then(|v| v.get(*key));
        }
        match at {
            Some(Value::Array(items)) => return items.iter().collect(),
            Some(v @ Value::Object(_)) => return vec![v],
            _ => {}
        }
    }
    vec![body]
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn with_auth(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::AUTHORIZATION,
            HeaderValue::from_str(v).expect("header"),
        );
        h
    }

    fn delivery<'a>(h: &'a HeaderMap, q: &'a [(String, String)]) -> Delivery<'a> {
        Delivery {
            headers: h,
            query: q,
            body: b"{}",
            now_s: 0,
        }
    }

    #[test]
    fn tokens_match_with_or_without_a_scheme_word() {
        let s = Secret::new("s3cret");
        for ok in ["Bearer s3cret", "bearer  s3cret", "Token s3cret", "s3cret"] {
            let h = with_auth(ok);
            assert!(token(&delivery(&h, &[]), &s).is_ok(), "{ok}");
        }
        for bad in ["Bearer s3cre", "Bearer s3cret2", "", "Basic czNjcmV0"] {
            let h = with_auth(bad);
            let e = token(&delivery(&h, &[]), &s).expect_err(bad);
            assert!(!e.contains("s3cret"), "{e}");
        }
        let none = HeaderMap::new();
        assert_eq!(
            token(&delivery(&none, &[]), &s).expect_err("none"),
            "no Authorization header"
        );
    }

    #[test]
    fn basic_takes_the_password_and_any_user() {
        let s = Secret::new("pw:with:colons");
        // base64("prisma:pw:with:colons")
        let h = with_auth("Basic cHJpc21hOnB3OndpdGg6Y29sb25z");
        assert!(token_or_basic(&delivery(&h, &[]), &s).is_ok());
        let h = with_auth("Basic cHJpc21hOnB3");
        assert!(token_or_basic(&delivery(&h, &[]), &s).is_err());
        let h = with_auth("Basic !!!");
        assert_eq!(
            basic(&delivery(&h, &[]), &s).expect_err("b64"),
            "the Basic credentials are not base64"
        );
    }

    #[test]
    fn query_tokens() {
        let s = Secret::new("t0k");
        let h = HeaderMap::new();
        let q = vec![("api-token".to_string(), "t0k".to_string())];
        assert!(query_token(&delivery(&h, &q), &s).is_ok());
        let q = vec![("api-token".to_string(), "t0k2".to_string())];
        assert!(query_token(&delivery(&h, &q), &s).is_err());
        assert!(query_token(&delivery(&h, &[]), &s).is_err());
    }

    #[test]
    fn items_at_the_first_path_present() {
        let body = serde_json::json!({"issue": {"id": "a"}, "x": [1]});
        let paths: ItemPaths = &[&["nope"], &["issue"], &[]];
        assert_eq!(pushed_items(&body, paths), vec![&body["issue"]]);
        let arr = serde_json::json!([{"id": 1}, {"id": 2}]);
        assert_eq!(pushed_items(&arr, paths), vec![&arr]);
        let listed = serde_json::json!({"reply": {"alerts": [{"a": 1}, {"b": 2}]}});
        let paths: ItemPaths = &[&["reply", "alerts"], &[]];
        assert_eq!(pushed_items(&listed, paths).len(), 2);
    }

    #[test]
    fn overrides_are_checked() {
        assert!(for_source(Vendor::Wiz, Some("standard-webhooks")).is_ok());
        let e = for_source(Vendor::Wiz, Some("hmac"))
            .err()
            .expect("unknown");
        assert!(e.contains("standard-webhooks"), "{e}");
    }
}
