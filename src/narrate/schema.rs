//! The narrative's JSON schema, and the validation every model reply goes through.
//!
//! The schema is the strict-mode subset OpenAI accepts (every property required, nullable
//! instead of optional, `additionalProperties: false` on every object), which llama.cpp and
//! Ollama turn into a grammar. Validation does not trust the provider to have enforced it.

use serde::{Deserialize, Serialize};

/// Longest string the model may put in one field (characters).
pub const MAX_FIELD_CHARS: usize = 4000;
/// Most recommended actions kept.
pub const MAX_ACTIONS: usize = 12;
/// Most evidence references kept.
pub const MAX_EVIDENCE: usize = 40;

/// How sure the narrative is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// One recommended step. A command is text for a person to read and run; sitrep never
/// runs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecommendedAction {
    pub step: String,
    pub command: Option<String>,
}

/// The fields a model must return.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NarrativeBody {
    pub summary: String,
    pub impact: String,
    pub root_cause: String,
    pub attack_path: Option<String>,
    pub actions: Vec<RecommendedAction>,
    pub confidence: Confidence,
    /// The alert fields (paths such as `resource.id`, `exposure.internet_facing`) it used.
    pub evidence: Vec<String>,
}

/// The JSON schema sent with the request.
pub fn json_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "properties": {
            "summary": {"type": "string", "description": "Two or three sentences: what was found, where."},
            "impact": {"type": "string", "description": "What an attacker could do with it."},
            "root_cause": {"type": "string", "description": "The likely root cause."},
            "attack_path": {"type": ["string", "null"], "description": "How this finding chains with exposure, exploitability, privilege or data, or null."},
            "actions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "step": {"type": "string"},
                        "command": {"type": ["string", "null"]}
                    },
                    "required": ["step", "command"],
                    "additionalProperties": false
                }
            },
            "confidence": {"type": "string", "enum": ["low", "medium", "high"]},
            "evidence": {"type": "array", "items": {"type": "string"}, "description": "Alert field paths used, such as resource.id or cves."}
        },
        "required": ["summary", "impact", "root_cause", "attack_path", "actions", "confidence", "evidence"],
        "additionalProperties": false
    })
}

/// The JSON object inside a reply: the reply itself, or the span from its first `{` to its
/// last `}` (some models wrap JSON in prose or a code fence when no grammar holds them).
fn json_span(text: &str) -> Option<&str> {
    let t = text.trim();
    if t.starts_with('{') && t.ends_with('}') {
        return Some(t);
    }
    let start = t.find('{')?;
    let end = t.rfind('}')?;
    (end > start).then(|| &t[start..=end])
}

fn string_field(
    obj: &serde_json::Map<String, serde_json::Value>,
    key: &str,
    nullable: bool,
) -> Result<Option<String>, String> {
    match obj.get(key) {
        None => Err(format!("missing field '{key}'")),
        Some(serde_json::Value::Null) if nullable => Ok(None),
        Some(serde_json::Value::String(s)) => {
            if s.chars().count() > MAX_FIELD_CHARS {
                return Err(format!(
                    "field '{key}' is longer than {MAX_FIELD_CHARS} characters"
                ));
            }
            Ok(Some(s.clone()))
        }
        Some(_) => Err(format!(
            "field '{key}' must be a string{}",
            if nullable { " or null" } else { "" }
        )),
    }
}

/// Parse and check a model reply against the schema. The error says what was wrong, in
/// one line, and is fed back to the model on the one retry.
pub fn validate(text: &str) -> Result<NarrativeBody, String> {
    let span = json_span(text).ok_or_else(|| "the reply holds no JSON object".to_string())?;
    let value: serde_json::Value =
        serde_json::from_str(span).map_err(|e| format!("the reply is not valid JSON: {e}"))?;
    let obj = value
        .as_object()
        .ok_or_else(|| "the reply is not a JSON object".to_string())?;
    const KEYS: [&str; 7] = [
        "summary",
        "impact",
        "root_cause",
        "attack_path",
        "actions",
        "confidence",
        "evidence",
    ];
    if let Some(extra) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(format!("unexpected field '{extra}'"));
    }
    let summary = string_field(obj, "summary", false)?.unwrap_or_default();
    if summary.trim().is_empty() {
        return Err("field 'summary' is empty".into());
    }
    let impact = string_field(obj, "impact", false)?.unwrap_or_default();
    let root_cause = string_field(obj, "root_cause", false)?.unwrap_or_default();
    let attack_path = string_field(obj, "attack_path", true)?.filter(|s| !s.trim().is_empty());
    let actions_v = obj
        .get("actions")
        .ok_or_else(|| "missing field 'actions'".to_string())?
        .as_array()
        .ok_or_else(|| "field 'actions' must be an array".to_string())?;
    let mut actions = Vec::new();
    for (i, a) in actions_v.iter().enumerate() {
        let o = a
            .as_object()
            .ok_or_else(|| format!("actions[{i}] must be an object"))?;
        if let Some(extra) = o.keys().find(|k| *k != "step" && *k != "command") {
            return Err(format!("actions[{i}]: unexpected field '{extra}'"));
        }
        let step = string_field(o, "step", false)
            .map_err(|e| format!("actions[{i}]: {e}"))?
            .unwrap_or_default();
        let command = string_field(o, "command", true)
            .map_err(|e| format!("actions[{i}]: {e}"))?
            .filter(|c| !c.trim().is_empty());
        if step.trim().is_empty() && command.is_none() {
            continue;
        }
        actions.push(RecommendedAction { step, command });
    }
    actions.truncate(MAX_ACTIONS);
    let confidence = match obj.get("confidence").and_then(|c| c.as_str()) {
        Some("low") => Confidence::Low,
        Some("medium") => Confidence::Medium,
        Some("high") => Confidence::High,
        Some(other) => {
            return Err(format!(
                "field 'confidence' must be low, medium or high, not '{}'",
                crate::sanitize::one_line(&other.chars().take(40).collect::<String>())
            ));
        }
        None => return Err("missing or non-string field 'confidence'".into()),
    };
    let evidence_v = obj
        .get("evidence")
        .ok_or_else(|| "missing field 'evidence'".to_string())?
        .as_array()
        .ok_or_else(|| "field 'evidence' must be an array".to_string())?;
    let mut evidence = Vec::new();
    for (i, e) in evidence_v.iter().enumerate() {
        let s = e
            .as_str()
            .ok_or_else(|| format!("evidence[{i}] must be a string"))?;
        if s.chars().count() > 200 {
            return Err(format!("evidence[{i}] is longer than 200 characters"));
        }
        if !s.trim().is_empty() && !evidence.iter().any(|x: &String| x == s.trim()) {
            evidence.push(s.trim().to_string());
        }
    }
    evidence.truncate(MAX_EVIDENCE);
    Ok(NarrativeBody {
        summary,
        impact,
        root_cause,
        attack_path,
        actions,
        confidence,
        evidence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> serde_json::Value {
        serde_json::json!({
            "summary": "Public S3 bucket.",
            "impact": "Data exposure.",
            "root_cause": "ACL allows AllUsers.",
            "attack_path": null,
            "actions": [{"step": "Block public access", "command": "aws s3api put-public-access-block --bucket b"}],
            "confidence": "high",
            "evidence": ["resource.id", "title"]
        })
    }

    #[test]
    fn a_valid_reply_parses() {
        let b = validate(&good().to_string()).expect("valid");
        assert_eq!(b.confidence, Confidence::High);
        assert_eq!(b.actions.len(), 1);
        assert_eq!(b.attack_path, None);
    }

    #[test]
    fn json_inside_a_code_fence_is_found() {
        let t = format!("Here it is:\n```json\n{}\n```", good());
        assert!(validate(&t).is_ok());
    }

    #[test]
    fn every_schema_violation_is_named() {
        let cases: Vec<(serde_json::Value, &str)> = vec![
            (serde_json::json!([1]), "no JSON object"),
            (
                {
                    let mut v = good();
                    v["extra"] = 1.into();
                    v
                },
                "unexpected field 'extra'",
            ),
            (
                {
                    let mut v = good();
                    v.as_object_mut().expect("obj").remove("impact");
                    v
                },
                "missing field 'impact'",
            ),
            (
                {
                    let mut v = good();
                    v["confidence"] = "certain".into();
                    v
                },
                "must be low, medium or high",
            ),
            (
                {
                    let mut v = good();
                    v["actions"] = serde_json::json!([{"step": 3, "command": null}]);
                    v
                },
                "actions[0]: field 'step' must be a string",
            ),
            (
                {
                    let mut v = good();
                    v["summary"] = "  ".into();
                    v
                },
                "'summary' is empty",
            ),
            (
                {
                    let mut v = good();
                    v["summary"] = "x".repeat(MAX_FIELD_CHARS + 1).into();
                    v
                },
                "longer than",
            ),
        ];
        for (v, want) in cases {
            let e = validate(&v.to_string()).expect_err("must fail");
            assert!(e.contains(want), "{e} should contain {want}");
        }
        assert!(
            validate("{\"summary\": \"cut")
                .expect_err("truncated")
                .contains("no JSON object")
        );
        assert!(
            validate("{\"summary\": \"cut\" }}")
                .expect_err("bad")
                .contains("not valid JSON")
        );
    }

    #[test]
    fn the_schema_is_strict_mode_shaped() {
        fn check(v: &serde_json::Value) {
            if let Some(o) = v.as_object() {
                if o.get("type").and_then(|t| t.as_str()) == Some("object") {
                    assert_eq!(o.get("additionalProperties"), Some(&false.into()));
                    let props = o["properties"].as_object().expect("props");
                    let req: Vec<&str> = o["required"]
                        .as_array()
                        .expect("required")
                        .iter()
                        .filter_map(|r| r.as_str())
                        .collect();
                    for k in props.keys() {
                        assert!(req.contains(&k.as_str()), "{k} not required");
                    }
                }
                for v in o.values() {
                    check(v);
                }
            }
        }
        check(&json_schema());
    }
}
