//! Small, forgiving accessors over `serde_json::Value` shared by the vendor mappers.
//!
//! Vendor payloads are untrusted and loosely typed: numbers arrive as strings, timestamps as
//! epoch milliseconds, epoch seconds, RFC 3339 or `"0"`, and fields go missing. These helpers
//! turn all of that into `Option`s instead of errors.

use chrono::{DateTime, NaiveDateTime};
use serde_json::Value;

use crate::domain::EpochMs;

/// Follow a dotted path (`"resource.accountId"`); array indices are plain numbers (`"a.0.b"`).
pub fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.split('.') {
        cur = match cur {
            Value::Object(m) => m.get(part)?,
            Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    if cur.is_null() { None } else { Some(cur) }
}

/// A non-empty string at `path`; numbers and booleans are rendered as text.
pub fn string(v: &Value, path: &str) -> Option<String> {
    match at(v, path)? {
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                None
            } else {
                Some(t.to_string())
            }
        }
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The first non-empty string among several paths.
pub fn first_string(v: &Value, paths: &[&str]) -> Option<String> {
    paths.iter().find_map(|p| string(v, p))
}

pub fn boolean(v: &Value, path: &str) -> Option<bool> {
    match at(v, path)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => Some(true),
            "false" | "no" | "0" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        _ => None,
    }
}

pub fn float(v: &Value, path: &str) -> Option<f64> {
    match at(v, path)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn int(v: &Value, path: &str) -> Option<i64> {
    match at(v, path)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An array element as [`strings`] takes it: a non-blank string (trimmed) or a number.
pub fn element_text(x: &Value) -> Option<String> {
    match x {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Strings of an array at `path` (non-strings are skipped; a lone string counts as one).
pub fn strings(v: &Value, path: &str) -> Vec<String> {
    match at(v, path) {
        Some(Value::Array(a)) => a.iter().filter_map(element_text).collect(),
        Some(Value::String(s)) if !s.trim().is_empty() => vec![s.trim().to_string()],
        _ => Vec::new(),
    }
}

/// A timestamp at `path` in any of the forms vendors use, as epoch milliseconds.
pub fn time(v: &Value, path: &str) -> Option<EpochMs> {
    match at(v, path)? {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .and_then(epoch_number),
        Value::String(s) => parse_time(s),
        _ => None,
    }
}

/// The first timestamp found among several paths.
pub fn first_time(v: &Value, paths: &[&str]) -> Option<EpochMs> {
    paths.iter().find_map(|p| time(v, p))
}

/// Epoch numbers: zero or negative means "never"; values below 10^11 are taken as seconds
/// (10^11 ms is March 1973, 10^11 s is the year 5138), the rest as milliseconds.
fn epoch_number(n: i64) -> Option<EpochMs> {
    if n <= 0 {
        None
    } else if n < 100_000_000_000 {
        Some(n * 1000)
    } else {
        Some(n)
    }
}

/// Parse RFC 3339 (`2023-08-23T07:56:09.903743Z`), a naive ISO date-time taken as UTC, or
/// a string of digits (epoch seconds or milliseconds). `"0"` and empty strings are `None`.
pub fn parse_time(s: &str) -> Option<EpochMs> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().ok().and_then(epoch_number);
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_millis());
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(dt.and_utc().timestamp_millis());
        }
    }
    // "2023-08-23 07:56:09.903743+00:00" and similar space-separated offsets.
    if let Ok(dt) = DateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(dt.timestamp_millis());
    }
    None
}

/// A JSON object of string-ish values as tags (`{"env":"prod"}`); non-scalar values are
/// rendered as compact JSON. Also accepts `[{"key":..,"value":..}]` and `["k:v"]` lists.
pub fn tags(v: &Value, path: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    match at(v, path) {
        Some(Value::Object(m)) => {
            for (k, val) in m {
                let text = match val {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                };
                out.insert(k.clone(), text);
            }
        }
        Some(Value::Array(a)) => {
            for item in a {
                match item {
                    Value::Object(_) => {
                        let k = first_string(item, &["key", "Key", "name", "tagKey"]);
                        let val = first_string(item, &["value", "Value", "tagValue"]);
                        if let Some(k) = k {
                            out.insert(k, val.unwrap_or_default());
                        }
                    }
                    Value::String(s) => {
                        let (k, val) = s.split_once([':', '=']).unwrap_or((s.as_str(), ""));
                        out.insert(k.to_string(), val.to_string());
                    }
                    _ => {}
                }
            }
        }
        Some(Value::String(s)) => {
            // Some vendors (Orca) send tags as a JSON-encoded string.
            if let Ok(inner) = serde_json::from_str::<Value>(s) {
                let wrapped = serde_json::json!({ "t": inner });
                return tags(&wrapped, "t");
            }
        }
        _ => {}
    }
    out
}

/// Pull open ports out of free text such as "port 22" / "ports 22,3389" / "22/tcp".
pub fn ports_in_text(text: &str) -> Vec<u16> {
    let lower = text.to_ascii_lowercase();
    let mut out = Vec::new();
    for (i, _) in lower.match_indices("port") {
        let rest = &lower[i + 4..];
        let rest = rest.trim_start_matches(['s', ' ', ':', '(']);
        for tok in rest.split([',', ' ', '/', ')']).take(4) {
            if let Ok(p) = tok.trim().parse::<u16>() {
                if p > 0 && !out.contains(&p) {
                    out.push(p);
                }
            } else if !tok.trim().is_empty() && tok.trim() != "and" {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_in_every_vendor_form() {
        let v = json!({
            "ms": 1694003441966i64, "s": 1694003441, "zero": 0, "zs": "0",
            "rfc": "2023-08-23T07:56:09.903743Z", "ms_str": "1694003441966",
            "naive": "2022-09-29T16:00:00.000", "off": "2023-01-01T01:00:00+01:00"
        });
        assert_eq!(time(&v, "ms"), Some(1694003441966));
        assert_eq!(time(&v, "s"), Some(1694003441000));
        assert_eq!(time(&v, "zero"), None);
        assert_eq!(time(&v, "zs"), None);
        assert_eq!(time(&v, "rfc"), Some(1692777369903));
        assert_eq!(time(&v, "ms_str"), Some(1694003441966));
        assert_eq!(time(&v, "naive"), Some(1664467200000));
        assert_eq!(time(&v, "off"), Some(1672531200000));
        assert_eq!(time(&v, "missing"), None);
    }

    #[test]
    fn paths_and_scalars() {
        let v = json!({"a": {"b": [{"c": " x "}, {"c": 5}]}, "n": null, "t": "true"});
        assert_eq!(string(&v, "a.b.0.c").as_deref(), Some("x"));
        assert_eq!(string(&v, "a.b.1.c").as_deref(), Some("5"));
        assert_eq!(string(&v, "n"), None);
        assert_eq!(boolean(&v, "t"), Some(true));
        assert_eq!(first_string(&v, &["zz", "a.b.0.c"]).as_deref(), Some("x"));
    }

    #[test]
    fn tags_in_three_shapes() {
        let v = json!({
            "obj": {"env": "prod", "n": 1},
            "list": [{"key": "env", "value": "dev"}, "team:blue"],
            "enc": "{\"owner\": \"ops\"}"
        });
        assert_eq!(tags(&v, "obj").get("env").map(String::as_str), Some("prod"));
        assert_eq!(tags(&v, "obj").get("n").map(String::as_str), Some("1"));
        let l = tags(&v, "list");
        assert_eq!(l.get("env").map(String::as_str), Some("dev"));
        assert_eq!(l.get("team").map(String::as_str), Some("blue"));
        assert_eq!(
            tags(&v, "enc").get("owner").map(String::as_str),
            Some("ops")
        );
    }

    #[test]
    fn ports_from_prose() {
        assert_eq!(ports_in_text("allows 0.0.0.0/0 on port 22"), vec![22]);
        assert_eq!(ports_in_text("Ports 22, 3389 open"), vec![22, 3389]);
        assert!(ports_in_text("no numbers here").is_empty());
    }
}
