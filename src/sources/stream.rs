//! A list reply read from a stream, its items handed over one at a time.
//!
//! An exported tenant is one list body of up to a million items (a few GB): parsed whole, its
//! `Value` tree takes about ten times the file. [`stream_items`] parses from any reader and
//! builds the reply's envelope as a `Value`, but an array at one of the vendor's item paths is
//! never built: each of its items is parsed, handed over inside a *shell* — the envelope read
//! so far, with the item array holding that one item — and dropped before the next is read.
//! A vendor's whole-payload mapper maps the shell exactly as it maps that item in the whole
//! reply (the shell has the reply's structure), so memory is one item plus the envelope.
//!
//! Keys that come after the item array are not in the shell (the envelope is still being
//! read); the caller gets the complete envelope, its item arrays empty, when the stream ends.

use std::io::Read;

use serde::de::{DeserializeSeed, Deserializer, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::ItemPaths;

/// What a stream held once it was read to its end.
#[derive(Debug)]
pub struct Streamed {
    /// The whole reply when no item array was found; else its envelope, item arrays empty.
    pub body: Value,
    /// How many item arrays were streamed (0: `body` is the whole reply).
    pub arrays: usize,
    /// How many items were handed over.
    pub items: usize,
}

/// Why a stream stopped.
#[derive(Debug)]
pub enum StreamError<E> {
    /// Not JSON (serde_json's error, with its position).
    Json(serde_json::Error),
    /// The same item array twice (a repeated key): a parsed `Value` keeps only the last, but
    /// the first was already handed over.
    Repeated(&'static [&'static str]),
    /// The caller's handler refused an item.
    Stopped(E),
}

/// Read one JSON value from `reader`; each item of an array at one of `paths` is handed to
/// `each` as (shell, the item's index in its array) and not kept. `reader` should be
/// buffered. Trailing non-whitespace after the value is an error, as in `serde_json::from_*`.
pub fn stream_items<R, E, F>(
    paths: ItemPaths,
    reader: R,
    mut each: F,
) -> Result<Streamed, StreamError<E>>
where
    R: Read,
    F: FnMut(&Value, usize) -> Result<(), E>,
{
    let mut sink = Sink {
        each: &mut each,
        done: Vec::new(),
        items: 0,
        stopped: None,
    };
    let mut de = serde_json::Deserializer::from_reader(reader);
    let parsed = Level {
        paths,
        live: (0..paths.len()).collect(),
        depth: 0,
        up: None,
        sink: &mut sink,
    }
    .deserialize(&mut de)
    .and_then(|body| de.end().map(|()| body));
    let (arrays, items) = (sink.done.len(), sink.items);
    match (parsed, sink.stopped) {
        (Ok(body), _) => Ok(Streamed {
            body,
            arrays,
            items,
        }),
        (Err(_), Some(Stop::Handler(e))) => Err(StreamError::Stopped(e)),
        (Err(_), Some(Stop::Repeated(p))) => Err(StreamError::Repeated(p)),
        (Err(e), None) => Err(StreamError::Json(e)),
    }
}

enum Stop<E> {
    Handler(E),
    Repeated(&'static [&'static str]),
}

struct Sink<'h, F, E> {
    each: &'h mut F,
    /// Item arrays already streamed.
    done: Vec<&'static [&'static str]>,
    items: usize,
    /// Why the parse was cut short (serde only carries its own error type through).
    stopped: Option<Stop<E>>,
}

/// One object being read on the way to an item array: its keys so far and the key being read.
struct Link<'a> {
    up: Option<&'a Link<'a>>,
    map: &'a Map<String, Value>,
    key: &'a str,
}

/// The envelope read so far around `leaf`: each ancestor's keys so far, the path down to it.
fn shell(up: Option<&Link<'_>>, leaf: Value) -> Value {
    let mut v = leaf;
    let mut at = up;
    while let Some(link) = at {
        let mut m = link.map.clone();
        m.insert(link.key.to_string(), v);
        v = Value::Object(m);
        at = link.up;
    }
    v
}

fn leaf_mut<'v>(v: &'v mut Value, path: &[&str]) -> Option<&'v mut Vec<Value>> {
    path.iter()
        .try_fold(v, |v, k| v.get_mut(*k))
        .and_then(Value::as_array_mut)
}

/// Builds the `Value` of a node that may lie on one of the item paths.
struct Level<'a, 's, 'h, F, E> {
    paths: ItemPaths,
    /// Indices of the paths whose first `depth` keys lead here.
    live: Vec<usize>,
    depth: usize,
    up: Option<&'a Link<'a>>,
    sink: &'s mut Sink<'h, F, E>,
}

impl<'de, F, E> DeserializeSeed<'de> for Level<'_, '_, '_, F, E>
where
    F: FnMut(&Value, usize) -> Result<(), E>,
{
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de, F, E> Visitor<'de> for Level<'_, '_, '_, F, E>
where
    F: FnMut(&Value, usize) -> Result<(), E>,
{
    type Value = Value;

    super::page::scalar_values!();

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let ends_here = self
            .live
            .iter()
            .map(|&i| self.paths[i])
            .find(|p| p.len() == self.depth);
        let Some(path) = ends_here else {
            let mut out = Vec::new();
            while let Some(v) = seq.next_element::<Value>()? {
                out.push(v);
            }
            return Ok(Value::Array(out));
        };
        if self.sink.done.contains(&path) {
            self.sink.stopped = Some(Stop::Repeated(path));
            return Err(A::Error::custom("repeated item array"));
        }
        self.sink.done.push(path);
        let mut one = shell(self.up, Value::Array(Vec::with_capacity(1)));
        let mut index = 0;
        while let Some(item) = seq.next_element::<Value>()? {
            let handed = match leaf_mut(&mut one, path) {
                Some(slot) => {
                    slot.push(item);
                    let r = (self.sink.each)(&one, index);
                    if let Some(slot) = leaf_mut(&mut one, path) {
                        slot.clear();
                    }
                    r
                }
                // The shell is built along `path`: its leaf is always there.
                None => Ok(()),
            };
            if let Err(e) = handed {
                self.sink.stopped = Some(Stop::Handler(e));
                return Err(A::Error::custom("stopped by the item handler"));
            }
            index += 1;
            self.sink.items += 1;
        }
        Ok(Value::Array(Vec::new()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = m.next_key::<String>()? {
            let live = super::page::live_under(self.paths, &self.live, self.depth, &k);
            let v = if live.is_empty() {
                m.next_value::<Value>()?
            } else {
                let link = Link {
                    up: self.up,
                    map: &out,
                    key: &k,
                };
                m.next_value_seed(Level {
                    paths: self.paths,
                    live,
                    depth: self.depth + 1,
                    up: Some(&link),
                    sink: &mut *self.sink,
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
    use serde_json::json;

    const XDR: ItemPaths = &[&["reply", "alerts"], &["reply", "incidents"]];
    const TOP: ItemPaths = &[&["items"], &[]];

    fn collect(
        paths: ItemPaths,
        text: &str,
    ) -> (Result<Streamed, StreamError<String>>, Vec<Value>) {
        let mut seen = Vec::new();
        let r = stream_items(paths, text.as_bytes(), |shell: &Value, i| {
            seen.push(json!({"i": i, "shell": shell}));
            Ok::<(), String>(())
        });
        (r, seen)
    }

    #[test]
    fn items_arrive_one_by_one_in_the_envelope_read_so_far() {
        let text = r#"{"reply": {"total_count": 2, "alerts": [{"a": 1}, {"a": 2}], "more": true}}"#;
        let (r, seen) = collect(XDR, text);
        let s = r.expect("streams");
        assert_eq!((s.arrays, s.items), (1, 2));
        assert_eq!(
            s.body,
            json!({"reply": {"total_count": 2, "alerts": [], "more": true}})
        );
        assert_eq!(
            seen,
            vec![
                json!({"i": 0, "shell": {"reply": {"total_count": 2, "alerts": [{"a": 1}]}}}),
                json!({"i": 1, "shell": {"reply": {"total_count": 2, "alerts": [{"a": 2}]}}}),
            ]
        );
        // A top-level array: the shell is the one-item array.
        let (r, seen) = collect(TOP, "[1, [2]]");
        assert_eq!(r.expect("streams").body, json!([]));
        assert_eq!(seen[1], json!({"i": 1, "shell": [[2]]}));
    }

    #[test]
    fn other_shapes_come_back_whole_and_errors_are_serde_jsons() {
        let text = r#"{"reply": {"err_code": 500, "alerts": {"not": "a list"}}}"#;
        let (r, seen) = collect(XDR, text);
        let s = r.expect("parses");
        assert_eq!(s.arrays, 0);
        assert!(seen.is_empty());
        assert_eq!(s.body, serde_json::from_str::<Value>(text).expect("json"));
        for cut in [
            r#"{"reply": {"alerts": [{"alert_id": "1"}, {"alert_"#,
            r#"{"items": [1, 2,]}"#,
            r#"{"items": []} x"#,
            "",
        ] {
            let want = serde_json::from_str::<Value>(cut)
                .expect_err("bad")
                .to_string();
            match collect(TOP, cut).0 {
                Err(StreamError::Json(e)) => assert_eq!(e.to_string(), want, "{cut}"),
                other => panic!("{cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_refused_item_or_a_repeated_array_stops_the_stream() {
        let r = stream_items(TOP, &b"[1, 2, 3]"[..], |_: &Value, i| {
            if i == 1 {
                Err(format!("no {i}"))
            } else {
                Ok(())
            }
        });
        assert!(
            matches!(r, Err(StreamError::Stopped(ref e)) if e == "no 1"),
            "{r:?}"
        );
        let (r, _) = collect(TOP, r#"{"items": [1], "items": [2]}"#);
        assert!(
            matches!(r, Err(StreamError::Repeated(p)) if p == ["items"]),
            "{r:?}"
        );
    }
}
