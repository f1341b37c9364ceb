//! The unambiguous byte encodings the MACs are computed over.
//!
//! Every variable-length field is length-prefixed (u64, big-endian), so no two different
//! entries encode to the same bytes: `("ab", "c")` and `("a", "bc")` differ. JSON details are
//! encoded canonically (object keys sorted by their UTF-8 bytes, no whitespace), so the same
//! value always yields the same text whatever order its keys were built in.

use serde_json::Value;

/// Domain separation: an entry's bytes can never be mistaken for a head record's.
const ENTRY_TAG: &[u8] = b"sitrep-audit-entry-v1\0";
const HEAD_TAG: &[u8] = b"sitrep-audit-head-v1\0";
const KEY_ID_TAG: &[u8] = b"sitrep-audit-key-id-v1\0";

/// The previous mac of entry 1: 64 zeros.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// `canonical(entry) ‖ prev_mac`: what entry `seq`'s MAC covers. `prev_mac` is the previous
/// entry's mac as stored (lowercase hex), so the chain needs no decoding to extend.
#[allow(clippy::too_many_arguments)]
pub fn entry_bytes(
    seq: i64,
    at: i64,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
    prev_mac: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        ENTRY_TAG.len()
            + 16
            + 5 * 8
            + actor.len()
            + action.len()
            + subject.len()
            + detail.len()
            + prev_mac.len(),
    );
    out.extend_from_slice(ENTRY_TAG);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&at.to_be_bytes());
    field(&mut out, actor.as_bytes());
    field(&mut out, action.as_bytes());
    field(&mut out, subject.as_bytes());
    field(&mut out, detail.as_bytes());
    // mac_{i-1}, appended after the entry (itself length-prefixed, like every field).
    field(&mut out, prev_mac.as_bytes());
    out
}

/// What a head record's MAC covers.
pub fn head_bytes(count: i64, mac: &str, key_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEAD_TAG.len() + 8 + 16 + mac.len() + key_id.len());
    out.extend_from_slice(HEAD_TAG);
    out.extend_from_slice(&count.to_be_bytes());
    field(&mut out, mac.as_bytes());
    field(&mut out, key_id.as_bytes());
    out
}

pub fn key_id_bytes() -> &'static [u8] {
    KEY_ID_TAG
}

/// Canonical JSON: object keys sorted by their UTF-8 bytes, no insignificant whitespace,
/// strings escaped as serde_json escapes them.
pub fn json(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_string(s: &str, out: &mut String) {
    // serde_json's string encoding is deterministic; it cannot fail for a &str.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into()));
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                if let Some(x) = m.get(k) {
                    write_json(x, out);
                }
            }
            out.push('}');
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    s.as_bytes()
        .chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_canonical_whatever_the_key_order() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":[1,"x"],"x":null},"é":true}"#).expect("json");
        let b: Value =
            serde_json::from_str(r#"{ "é": true, "a": {"x": null, "y": [1, "x"]}, "b": 1 }"#)
                .expect("json");
        assert_eq!(json(&a), json(&b));
        assert_eq!(json(&a), r#"{"a":{"x":null,"y":[1,"x"]},"b":1,"é":true}"#);
        assert_eq!(
            json(&Value::String("a\"\n\u{1b}".into())),
            r#""a\"\n\u001b""#
        );
    }

    #[test]
    fn fields_are_length_prefixed_not_joined() {
        let one = entry_bytes(1, 2, "ab", "c", "s", "{}", GENESIS);
        let two = entry_bytes(1, 2, "a", "bc", "s", "{}", GENESIS);
        assert_ne!(one, two);
        let three = entry_bytes(1, 2, "a", "b", "cs", "{}", GENESIS);
        assert_ne!(two, three);
        assert_ne!(
            entry_bytes(1, 2, "a", "b", "c", "{}", GENESIS),
            entry_bytes(2, 2, "a", "b", "c", "{}", GENESIS)
        );
    }

    #[test]
    fn hex_round_trips() {
        let b = [0u8, 1, 0xab, 0xff];
        assert_eq!(hex(&b), "0001abff");
        assert_eq!(unhex("0001abff"), Some(b.to_vec()));
        assert_eq!(unhex("0001ABFF"), None);
        assert_eq!(unhex("abc"), None);
    }
}
