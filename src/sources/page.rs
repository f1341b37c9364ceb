//! A list reply parsed for mapping item by item.
//!
//! A vendor page holds 100–1,000 items of 1–5 KB; parsed whole, its `Value` tree is tens of
//! megabytes and no longer in the caches when the mapper reaches its first item. [`Page::parse`]
//! builds the reply's envelope as a `Value` but keeps the item array's items as their text
//! (validated, not parsed), and [`map_items`] parses and maps one item at a time, so each item's
//! tree is mapped while it is hot and freed before the next is built.
//!
//! The envelope keeps the item array's length (its items read as `null`), so a client's own
//! checks — an empty page, the number of items against a total — read it as before. Mapping a
//! page gives exactly what mapping the whole parsed reply gives (`vendors::map_payload`); when
//! the item-by-item way meets anything it was not built for (a mapping error, an item array at
//! more than one of the vendor's paths), the whole reply is rebuilt and mapped the old way, so
//! errors read the same too.

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::MapError;
use crate::domain::Alert;

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

/// Where a vendor's list replies keep their items, one path per reply shape (`[]`: the reply
/// is the array). Each vendor's kit names its own (`vendors/<v>/map.rs`).
pub type ItemPaths = &'static [&'static [&'static str]];

impl Page {
    /// Parse a reply body (the same syntax errors as `serde_json::from_slice::<Value>`).
    pub fn parse(paths: ItemPaths, text: &[u8]) -> Result<Page, serde_json::Error> {
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

    /// Whether the items were kept as text (an item array was found at one of the paths).
    #[cfg(test)]
    pub fn by_item(&self) -> bool {
        self.items.is_some()
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

/// Map a list reply with `map` (a vendor's whole-payload mapper), item by item when its items
/// were kept as text, with the same result as `map` on the whole reply.
pub fn map_items(
    page: Page,
    map: &dyn Fn(&Value) -> Result<Vec<Alert>, MapError>,
) -> Result<Vec<Alert>, MapError> {
    // The whole reply, mapped as before: no item array, or anything the item-by-item way
    // was not built for (the error then reads as the whole reply's: item index, sniffing).
    let whole = |page: Page| map(&page.into_value());
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
        match map(&one) {
            Ok(alerts) => out.extend(alerts),
            Err(_) => return whole(page),
        }
    }
    Ok(out)
}

/// The paths among `live` (indices into `paths`) whose key at `depth` is `key`: those that
/// lead on into the value under `key`.
pub(super) fn live_under(paths: ItemPaths, live: &[usize], depth: usize, key: &str) -> Vec<usize> {
    live.iter()
        .copied()
        .filter(|&i| paths[i].get(depth) == Some(&key))
        .collect()
}

/// The scalar half of a `Visitor` building a `Value` as serde_json's own does, for the
/// visitors that walk a reply to its item arrays (here and in `stream.rs`).
macro_rules! scalar_values {
    () => {
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_bool<Er>(self, v: bool) -> Result<Value, Er> {
            Ok(Value::Bool(v))
        }
        fn visit_i64<Er>(self, v: i64) -> Result<Value, Er> {
            Ok(Value::from(v))
        }
        fn visit_u64<Er>(self, v: u64) -> Result<Value, Er> {
            Ok(Value::from(v))
        }
        fn visit_f64<Er>(self, v: f64) -> Result<Value, Er> {
            Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
        }
        fn visit_str<Er>(self, v: &str) -> Result<Value, Er> {
            Ok(Value::String(v.to_string()))
        }
        fn visit_string<Er>(self, v: String) -> Result<Value, Er> {
            Ok(Value::String(v))
        }
        fn visit_unit<Er>(self) -> Result<Value, Er> {
            Ok(Value::Null)
        }
        fn visit_none<Er>(self) -> Result<Value, Er> {
            Ok(Value::Null)
        }
    };
}
pub(super) use scalar_values;

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

    scalar_values!();

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
            let live = live_under(self.paths, &self.live, self.depth, &k);
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

    const XDR: ItemPaths = &[&["reply", "alerts"], &["reply", "incidents"]];
    const CSPM: ItemPaths = &[&["items"], &[]];

    #[test]
    fn envelopes_keep_the_item_count_and_other_shapes_stay_whole() {
        let text = br#"{"reply": {"total_count": 3, "result_count": 2, "alerts": [{"alert_id": "1"}, {"alert_id": "2"}]}}"#;
        let page = Page::parse(XDR, text).expect("parses");
        assert_eq!(page["reply"]["alerts"], serde_json::json!([null, null]));
        assert_eq!(page["reply"]["total_count"], 3);
        // An error reply: no item array, the whole body.
        let text = br#"{"reply": {"err_code": 500, "err_msg": "boom"}}"#;
        let page = Page::parse(XDR, text).expect("parses");
        assert!(!page.by_item());
        assert_eq!(page["reply"]["err_msg"], "boom");
        // Syntax errors are serde_json's own.
        let cut = br#"{"reply": {"alerts": [{"alert_id": "1"}, {"alert_"#;
        let want = serde_json::from_slice::<Value>(cut)
            .expect_err("cut")
            .to_string();
        assert_eq!(Page::parse(XDR, cut).expect_err("cut").to_string(), want);
        // A repeated key: the last array wins, as in a parsed Value.
        let text = br#"{"items": [{"id": "a"}], "items": [{"id": "b"}, {"id": "c"}]}"#;
        let page = Page::parse(CSPM, text).expect("parses");
        assert_eq!(
            page.into_value(),
            serde_json::from_slice::<Value>(text).expect("json")
        );
    }
}
