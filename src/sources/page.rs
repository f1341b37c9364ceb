//! A list reply parsed for mapping item by item.
//!
//! A vendor page holds 100–1,000 items of 1–5 KB; parsed whole, its `Value` tree is tens of
//! megabytes and no longer in the caches when the mapper reaches its first item. [`Page::parse`]
//! builds the reply's envelope as a `Value` but keeps the item array's items as their text
//! (validated, not parsed), and [`map_page`] parses and maps one item at a time, so each item's
//! tree is mapped while it is hot and freed before the next is built.
//!
//! The envelope keeps the item array's length (its items read as `null`), so a client's own
//! checks — an empty page, the number of items against a total — read it as before. Mapping a
//! page gives exactly what mapping the whole parsed reply gives ([`super::map_payload`]); when
//! the item-by-item way meets anything it was not built for (a mapping error, an item array at
//! more than one of the vendor's paths), the whole reply is rebuilt and mapped the old way, so
//! errors read the same too.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::MapError;
use crate::domain::{Alert, Vendor};

/// A list reply: its envelope, and its items' texts when the vendor's item array was found.
#[derive(Debug, Clone)]
pub struct Page {
    /// The reply with the item array's items as `null`s (or the whole reply, when no item
    /// array was found).
    body: Value,
    items: Option<Items>,
}

#[derive(Debug, Clone)]
struct Items {
    path: &'static [&'static str],
    texts: Vec<Box<RawValue>>,
}

impl std::ops::Deref for Page {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.body
    }
}

/// Where each vendor's list replies keep their items (`[]`: the reply is the array).
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

impl Page {
    /// Parse a reply body (the same syntax errors as `serde_json::from_slice::<Value>`).
    pub fn parse(vendor: Vendor, text: &[u8]) -> Result<Page, serde_json::Error> {
        let paths = item_paths(vendor);
        let mut found = Vec::new();
        let mut de = serde_json::Deserializer::from_slice(text);
        let body = Node {
            paths,
            live: (0..paths.len()).collect(),
            depth: 0,
            found: &mut found,
        }
        .deserialize(&mut de)?;
        de.end()?;
        let mut page = Page { body, items: None };
        match found.len() {
            0 => {}
            1 => page.items = found.pop(),
            // Item arrays at two of the vendor's paths: the mapper decides, from the whole.
            _ => {
                for items in found {
                    page.restore(items);
                }
            }
        }
        Ok(page)
    }

    /// Put the items back into the envelope: the reply as `serde_json` parses it.
    fn restore(&mut self, items: Items) {
        let parsed: Vec<Value> = items
            .texts
            .iter()
            .map(|t| serde_json::from_str(t.get()).unwrap_or(Value::Null))
            .collect();
        if let Some(slot) = at_mut(&mut self.body, items.path) {
            *slot = Value::Array(parsed);
        }
    }

    /// The whole reply, as parsed by `serde_json`.
    pub fn into_value(mut self) -> Value {
        if let Some(items) = self.items.take() {
            self.restore(items);
        }
        self.body
    }
}

fn at_mut<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, k| v.get_mut(*k))
}

/// Map a list reply, item by item when its items were kept as text, with the same result as
/// [`super::map_payload`] on the whole reply.
pub fn map_page(vendor: Vendor, source: &str, page: Page) -> Result<Vec<Alert>, MapError> {
    // The whole reply, mapped as before: no item array, or anything the item-by-item way
    // was not built for (the error then reads as the whole reply's: item index, sniffing).
    let whole = |page: Page| super::map_payload(vendor, source, &page.into_value());
    let Some(items) = &page.items else {
        return whole(page);
    };
    // The envelope around one item: the reply with an empty item array.
    let mut shell = page.body.clone();
    match at_mut(&mut shell, items.path) {
        Some(slot) => *slot = Value::Array(Vec::new()),
        None => return whole(page),
    }
    let mut out = Vec::with_capacity(items.texts.len());
    for text in &items.texts {
        let Ok(item) = serde_json::from_str::<Value>(text.get()) else {
            return whole(page);
        };
        let mut one = shell.clone();
        if let Some(Value::Array(a)) = at_mut(&mut one, items.path) {
            a.push(item);
        }
        match super::map_payload(vendor, source, &one) {
            Ok(alerts) => out.extend(alerts),
            Err(_) => return whole(page),
        }
    }
    Ok(out)
}

/// Builds the `Value` of a node that may lie on one of the item paths; an array at the end of
/// a path is kept as its items' texts.
struct Node<'f> {
    paths: &'static [&'static [&'static str]],
    /// Indices of the paths whose first `depth` keys lead here.
    live: Vec<usize>,
    depth: usize,
    found: &'f mut Vec<Items>,
}

impl Node<'_> {
    fn ends_here(&self) -> Option<&'static [&'static str]> {
        self.live
            .iter()
            .map(|&i| self.paths[i])
            .find(|p| p.len() == self.depth)
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        if let Some(path) = self.ends_here() {
            let mut texts = Vec::new();
            while let Some(t) = seq.next_element::<Box<RawValue>>()? {
                texts.push(t);
            }
            let placeholders = vec![Value::Null; texts.len()];
            // A repeated key: the last array wins, as it does in a parsed `Value`.
            self.found.retain(|f| f.path != path);
            self.found.push(Items { path, texts });
            return Ok(Value::Array(placeholders));
        }
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = m.next_key::<String>()? {
            let live: Vec<usize> = self
                .live
                .iter()
                .copied()
                .filter(|&i| self.paths[i].get(self.depth) == Some(&k.as_str()))
                .collect();
            let v = if live.is_empty() {
                m.next_value::<Value>()?
            } else {
                m.next_value_seed(Node {
                    paths: self.paths,
                    live,
                    depth: self.depth + 1,
                    found: &mut *self.found,
                })?
            };
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{emit, world::World};

    /// Item by item gives what the whole reply gives, for every vendor's emitted pages (compact
    /// and pretty-printed) and every corpus file of its own; the envelope reads as the reply
    /// with `null` items.
    #[test]
    fn item_by_item_equals_the_whole_reply() {
        let world = World::generate(7, 120, 1_795_305_600_000);
        let mut bodies = Vec::new();
        for vendor in Vendor::ALL {
            let findings: Vec<_> = world.findings_for(vendor).collect();
            let items = emit::items(vendor, &world, &findings);
            if vendor == Vendor::Wiz {
                // As the simulator serves pages: one connection per reply.
                let issues = items.iter().filter(|n| n.get("vulnerableAsset").is_none());
                let body = emit::wiz::page_body("issues", issues.cloned().collect(), true);
                bodies.push((vendor, body, true));
            }
            // The world's list body: Wiz's holds two connections, mapped whole.
            let body = emit::list_body(vendor, items);
            bodies.push((vendor, body, vendor != Vendor::Wiz));
        }
        for (vendor, body, by_item) in bodies {
            for text in [
                body.to_string(),
                serde_json::to_string_pretty(&body).expect("json"),
            ] {
                let page = Page::parse(vendor, text.as_bytes()).expect("parses");
                assert_eq!(page.items.is_some(), by_item, "{vendor}");
                let whole = super::super::map_payload(vendor, "s", &body).expect("maps");
                assert_eq!(page.clone().into_value(), body, "{vendor}");
                let items = map_page(vendor, "s", page).expect("maps");
                assert!(!whole.is_empty(), "{vendor}");
                assert_eq!(items, whole, "{vendor}");
                for (a, b) in items.iter().zip(&whole) {
                    assert_eq!(a.raw.as_str(), b.raw.as_str(), "{vendor}");
                }
            }
        }
    }

    #[test]
    fn corpus_pages_map_the_same_item_by_item() {
        let Some(dir) = crate::sources::corpus::dir() else {
            return;
        };
        let mut compared = 0;
        for vendor in Vendor::ALL {
            let Ok(entries) = std::fs::read_dir(dir.join(vendor.as_str())) else {
                continue;
            };
            for e in entries.flatten() {
                let path = e.path();
                if path.extension().and_then(|x| x.to_str()) != Some("json") {
                    continue;
                }
                let text = std::fs::read(&path).expect("read");
                let Ok(body) = serde_json::from_slice::<Value>(&text) else {
                    continue;
                };
                let page = Page::parse(vendor, &text).expect("parses as it did whole");
                assert_eq!(page.clone().into_value(), body, "{}", path.display());
                let whole = super::super::map_payload(vendor, "s", &body);
                assert_eq!(map_page(vendor, "s", page), whole, "{}", path.display());
                compared += 1;
            }
        }
        assert!(compared > 0, "no corpus file compared");
    }

    #[test]
    fn envelopes_keep_the_item_count_and_other_shapes_stay_whole() {
        let text = br#"{"reply": {"total_count": 3, "result_count": 2, "alerts": [{"alert_id": "1"}, {"alert_id": "2"}]}}"#;
        let page = Page::parse(Vendor::CortexXdr, text).expect("parses");
        assert_eq!(page["reply"]["alerts"], serde_json::json!([null, null]));
        assert_eq!(page["reply"]["total_count"], 3);
        // An error reply: no item array, the whole body.
        let text = br#"{"reply": {"err_code": 500, "err_msg": "boom"}}"#;
        let page = Page::parse(Vendor::CortexXdr, text).expect("parses");
        assert!(page.items.is_none());
        assert_eq!(page["reply"]["err_msg"], "boom");
        // Syntax errors are serde_json's own.
        let cut = br#"{"reply": {"alerts": [{"alert_id": "1"}, {"alert_"#;
        let want = serde_json::from_slice::<Value>(cut)
            .expect_err("cut")
            .to_string();
        assert_eq!(
            Page::parse(Vendor::CortexXdr, cut)
                .expect_err("cut")
                .to_string(),
            want
        );
        // A repeated key: the last array wins, as in a parsed Value.
        let text = br#"{"items": [{"id": "a"}], "items": [{"id": "b"}, {"id": "c"}]}"#;
        let page = Page::parse(Vendor::PrismaCspm, text).expect("parses");
        assert_eq!(
            page.into_value(),
            serde_json::from_slice::<Value>(text).expect("json")
        );
    }

    /// A page whose item fails to map gives the whole reply's error, item index included.
    #[test]
    fn mapping_errors_read_as_the_whole_replys() {
        let text = br#"{"totalRows": 2, "items": [{"id": "P-1", "policy": {"policyType": "config", "severity": "high"}, "resource": {"id": "r"}, "alertTime": 1}, 7]}"#;
        let body: Value = serde_json::from_slice(text).expect("json");
        let page = Page::parse(Vendor::PrismaCspm, text).expect("parses");
        let want = super::super::map_payload(Vendor::PrismaCspm, "s", &body);
        assert!(want.is_err(), "{want:?}");
        assert_eq!(map_page(Vendor::PrismaCspm, "s", page), want);
    }
}
