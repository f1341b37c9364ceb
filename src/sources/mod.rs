//! Vendor payloads → the normalized model. One module per vendor.
//!
//! Each vendor module exposes `map(body) -> Result<Vec<Alert>, MapError>`, which accepts the
//! vendor's list response body and a single item, and `sniff(body) -> Option<&'static str>`,
//! which says what a body looks like ("a Wiz GraphQL issues response") when it is this vendor's,
//! so that a file given under the wrong `--vendor` gets a useful error.
//!
//! This layer never touches the terminal, the store or the network.

pub mod api;
#[cfg(test)]
pub(crate) mod corpus;
pub mod cortex_xdr;
pub mod json;
pub mod lacework;
pub mod orca;
pub mod prisma_compute;
pub mod prisma_cspm;
pub mod sync;
pub mod wiz;

use serde_json::Value;

use crate::domain::{Alert, Vendor};

/// Why a payload could not be mapped. Messages are one line and name what was wrong.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MapError {
    /// The body is not any shape this vendor's mapper accepts.
    #[error("not a {vendor} payload: {detail}")]
    Shape {
        vendor: &'static str,
        detail: String,
    },
    /// The body is recognisably another vendor's.
    #[error("this looks like {looks_like}, not {expected}")]
    WrongVendor {
        looks_like: &'static str,
        expected: &'static str,
    },
    /// The body is this vendor's, but a related response that carries no alerts.
    #[error("this is {what}, which carries no alerts to import")]
    NotAlerts { what: &'static str },
    /// One item of a list could not be mapped.
    #[error("item {index}: {detail}")]
    Item { index: usize, detail: String },
}

/// Map a vendor payload (list body or single item) to alerts whose `source` is `source`.
///
/// On a shape error, the other vendors' sniffers are asked what the body looks like, so the
/// message can say "this looks like a Wiz GraphQL response, not prisma-cspm".
pub fn map_payload(vendor: Vendor, source: &str, body: &Value) -> Result<Vec<Alert>, MapError> {
    let result = match vendor {
        Vendor::PrismaCspm => prisma_cspm::map(body),
        Vendor::PrismaCompute => prisma_compute::map(body),
        Vendor::Wiz => wiz::map(body),
        Vendor::Lacework => lacework::map(body),
        Vendor::Orca => orca::map(body),
        Vendor::CortexXdr => cortex_xdr::map(body),
    };
    match result {
        Ok(mut alerts) => {
            for a in &mut alerts {
                a.source = source.to_string();
            }
            Ok(alerts)
        }
        Err(MapError::Shape { .. }) if sniff_other(vendor, body).is_some() => {
            Err(MapError::WrongVendor {
                looks_like: sniff_other(vendor, body).unwrap_or("another vendor's payload"),
                expected: vendor.as_str(),
            })
        }
        Err(e) => Err(e),
    }
}

/// [`map_payload`] for a body parsed from `text`: each alert's `raw` keeps its item's JSON
/// text as it arrived (minus insignificant whitespace) instead of a serialization of the
/// parsed item — the same text whenever the vendor's text is in serde_json's compact form,
/// which is checked per item (an item in any other form is serialized, as before).
pub fn map_page(
    vendor: Vendor,
    source: &str,
    body: &Value,
    text: &str,
) -> Result<Vec<Alert>, MapError> {
    match page_items(vendor, body, text) {
        Some(items) => json::with_page_items(items, || map_payload(vendor, source, body)),
        None => map_payload(vendor, source, body),
    }
}

/// Where each vendor's list responses keep their items (first match wins; `[]` is the body).
fn item_paths(vendor: Vendor) -> &'static [&'static [&'static str]] {
    match vendor {
        Vendor::PrismaCspm => &[&["items"], &[]],
        Vendor::PrismaCompute => &[&[]],
        Vendor::Wiz => &[
            &["data", "issues", "nodes"],
            &["data", "issuesV2", "nodes"],
            &["data", "vulnerabilityFindings", "nodes"],
            &["nodes"],
            &[],
        ],
        Vendor::Lacework => &[&["data"]],
        Vendor::Orca => &[&["data"], &["alerts"]],
        Vendor::CortexXdr => &[&["reply", "alerts"], &["reply", "incidents"]],
    }
}

/// The page's item array in `body` paired with the items' texts in `text`, when both are found
/// and agree in length.
fn page_items(vendor: Vendor, body: &Value, text: &str) -> Option<json::PageItems> {
    for path in item_paths(vendor) {
        let Some(Value::Array(items)) = path.iter().try_fold(body, |v, k| v.get(k)) else {
            continue;
        };
        let mut de = serde_json::Deserializer::from_str(text);
        let texts = serde::de::DeserializeSeed::deserialize(ItemsAt(path), &mut de)
            .ok()
            .flatten()?;
        de.end().ok()?;
        if texts.len() != items.len() {
            return None;
        }
        return Some(json::PageItems::new(items, &texts));
    }
    None
}

/// Skims a page's text for the item array at a path of object keys, keeping each item's text
/// (`RawValue` borrows it) and skipping everything else without building values.
struct ItemsAt<'p>(&'p [&'p str]);

type ItemTexts<'de> = Option<Vec<&'de serde_json::value::RawValue>>;

impl<'de> serde::de::DeserializeSeed<'de> for ItemsAt<'_> {
    type Value = ItemTexts<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<ItemTexts<'de>, D::Error> {
        if self.0.is_empty() {
            return <Vec<&'de serde_json::value::RawValue> as serde::Deserialize>::deserialize(d)
                .map(Some);
        }
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ItemsAt<'_> {
    type Value = ItemTexts<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<ItemTexts<'de>, A::Error> {
        // A repeated key: the last one wins, as it does in the parsed `Value`.
        let mut found = None;
        while let Some(k) = m.next_key::<String>()? {
            if k == self.0[0] {
                found = m.next_value_seed(ItemsAt(&self.0[1..]))?;
            } else {
                m.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// What the body looks like, asking every vendor but `except`.
pub fn sniff_other(except: Vendor, body: &Value) -> Option<&'static str> {
    Vendor::ALL
        .into_iter()
        .filter(|v| *v != except)
        .find_map(|v| sniff(v, body))
}

/// What the body looks like if it is `vendor`'s.
pub fn sniff(vendor: Vendor, body: &Value) -> Option<&'static str> {
    match vendor {
        Vendor::PrismaCspm => prisma_cspm::sniff(body),
        Vendor::PrismaCompute => prisma_compute::sniff(body),
        Vendor::Wiz => wiz::sniff(body),
        Vendor::Lacework => lacework::sniff(body),
        Vendor::Orca => orca::sniff(body),
        Vendor::CortexXdr => cortex_xdr::sniff(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{emit, world::World};

    /// Mapping a page with its text keeps each item's text and gives the same alerts, with
    /// `raw` byte-for-byte what serializing the parsed item gives (so content hashes match).
    #[test]
    fn map_page_keeps_item_text_and_agrees_with_map_payload() {
        let world = World::generate(7, 60, 1_795_305_600_000);
        for vendor in Vendor::ALL {
            let body = emit::vendor_body(vendor, &world);
            for text in [
                body.to_string(),
                serde_json::to_string_pretty(&body).expect("json"),
            ] {
                let parsed: Value = serde_json::from_str(&text).expect("json");
                assert!(page_items(vendor, &parsed, &text).is_some(), "{vendor}");
                let fast = map_page(vendor, "s", &parsed, &text).expect("map");
                let slow = map_payload(vendor, "s", &parsed).expect("map");
                assert!(!fast.is_empty(), "{vendor}");
                assert_eq!(fast, slow, "{vendor}");
                for (f, s) in fast.iter().zip(&slow) {
                    assert_eq!(f.raw.as_str(), s.raw.as_str(), "{vendor}");
                }
            }
        }
    }

    /// Text that is not the parsed body's (or items that differ in number) falls back.
    #[test]
    fn map_page_falls_back_when_the_text_does_not_match() {
        let body = serde_json::json!({"totalRows": 1, "items": [
            {"id": "P-1", "policy": {"policyType": "config", "severity": "high"},
             "resource": {"id": "r"}, "alertTime": 1}
        ]});
        assert!(page_items(Vendor::PrismaCspm, &body, "{\"items\": []}").is_none());
        assert!(page_items(Vendor::PrismaCspm, &body, "not json").is_none());
        let a = map_page(Vendor::PrismaCspm, "s", &body, "").expect("map");
        assert_eq!(a[0].raw, body["items"][0]);
        assert_eq!(a[0].raw.as_str(), body["items"][0].to_string());
    }
}
