//! Secret redaction, applied to every piece of alert text before a prompt is built.
//!
//! Each secret is replaced by a stable placeholder (`«SECRET_AWS_1»`): the same secret gets
//! the same placeholder everywhere in one prompt, so the model can still say "the key in the
//! user data" coherently. The mapping lives only in this value, in memory; nothing maps a
//! placeholder back to its secret anywhere else.
//!
//! The rules follow gitleaks' (`config/gitleaks.toml`, MIT) rule ideas, rewritten for the
//! `regex` crate (linear time, no backtracking): AWS access key ids and secret keys, JWTs,
//! PEM private keys, GitHub / GitLab / Slack / OpenAI / Anthropic / Google / Atlassian /
//! Azure AD tokens, bearer headers, passwords inside URLs, and a generic
//! `keyword = value` rule that needs the value's entropy to be high enough.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use regex::Regex;

/// One detector: a name (the placeholder's tag and the audit counter) and a regex whose
/// capture group `s` (or the whole match) is the secret.
struct Rule {
    kind: &'static str,
    re: Regex,
    /// Minimum Shannon entropy (bits per character) of the secret; 0: no check.
    min_entropy: f64,
}

fn rule(kind: &'static str, pattern: &str, min_entropy: f64) -> Option<Rule> {
    match Regex::new(pattern) {
        Ok(re) => Some(Rule {
            kind,
            re,
            min_entropy,
        }),
        Err(e) => {
            // The patterns are constants covered by the tests; never silently lose one.
            tracing::error!("redaction rule {kind} does not compile: {e}");
            None
        }
    }
}

/// Characters a secret value may hold in the generic rules (never the placeholder's «»).
const VALUE: &str = r#"[^\s"'`,;{}()<>\[\]«»]"#;

/// The keyword part of the generic rule (gitleaks' generic-api-key keywords).
const KEYWORD: &str = r"(?i:api[_.-]?key|apikey|secret|token|passw(?:or)?d|passwd|pwd|credentials?|auth(?:orization)?|access[_.-]?key|private[_.-]?key|client[_.-]?secret|conn(?:ection)?[_.-]?string)";

fn rules() -> &'static [Rule] {
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    RULES.get_or_init(|| {
        let generic = format!(
            r#"(?i)[\w.-]{{0,40}}{KEYWORD}[\w.-]{{0,20}}["']?\s*(?:=>|:=|[:=]|\s+is\s+)\s*["']?(?P<s>{VALUE}{{8,200}})"#
        );
        [
            // A PEM private key block; a block cut short (no END line) runs to the end.
            rule(
                "PRIVATE_KEY",
                r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----|\z)",
                0.0,
            ),
            rule(
                "ANTHROPIC",
                r"\bsk-ant-(?:api|admin|sid)\d{2}-[A-Za-z0-9_-]{20,}",
                0.0,
            ),
            rule(
                "OPENAI",
                r"\bsk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,}",
                3.0,
            ),
            rule(
                "AWS",
                r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b",
                2.5,
            ),
            rule(
                "AWS_SECRET",
                r#"(?i)aws.{0,20}?(?:secret|sk)[\w.-]{0,20}["']?\s*(?:=>|:=|[:=])\s*["']?(?P<s>[A-Za-z0-9/+=]{40})\b"#,
                3.0,
            ),
            rule(
                "JWT",
                r"\bey[A-Za-z0-9_-]{10,}\.ey[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{0,}",
                0.0,
            ),
            rule(
                "GITHUB",
                r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})",
                0.0,
            ),
            rule("GITLAB", r"\bgl(?:pat|dt|rt|ptt)-[A-Za-z0-9_-]{20,}", 0.0),
            rule(
                "SLACK",
                r"\bxox[abposr]-[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,}",
                0.0,
            ),
            rule("GCP", r"\bAIza[0-9A-Za-z_-]{35}\b", 0.0),
            rule("ATLASSIAN", r"\bATATT3[A-Za-z0-9_=-]{100,}", 0.0),
            rule(
                "AZURE_AD",
                r"\b[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}",
                0.0,
            ),
            rule(
                "HASHICORP",
                r"\b(?:hvs\.[A-Za-z0-9_-]{90,}|[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,})",
                0.0,
            ),
            // user:password@host in a URL.
            rule(
                "URL_PASSWORD",
                r"(?i)\b[a-z][a-z0-9+.-]{1,20}://[^\s/:@]{1,100}:(?P<s>[^\s/@]{3,200})@",
                0.0,
            ),
            rule(
                "BEARER",
                r"(?i)\b(?:bearer|basic|token)\s+(?P<s>[A-Za-z0-9._~+/-]{16,}=*)",
                3.0,
            ),
            rule("GENERIC", &generic, 3.5),
        ]
        .into_iter()
        .flatten()
        .collect()
    })
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    let mut counts: HashMap<char, usize> = HashMap::new();
    let mut n = 0usize;
    for c in s.chars() {
        *counts.entry(c).or_default() += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    counts
        .values()
        .map(|&c| {
            let p = c as f64 / n as f64;
            -p * p.log2()
        })
        .sum()
}

/// Does a tag or field name say its value is a secret?
pub fn is_secret_name(name: &str) -> bool {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(&format!("^[\\w.-]{{0,40}}{KEYWORD}[\\w.-]{{0,20}}$")).ok())
        .as_ref()
        .is_some_and(|re| re.is_match(name.trim()))
}

/// A redaction pass over one prompt's worth of text.
#[derive(Debug, Default)]
pub struct Redactor {
    /// secret → placeholder.
    seen: HashMap<String, String>,
    /// Placeholders issued per kind (for numbering).
    per_kind: BTreeMap<&'static str, usize>,
    /// Replacements made per kind (a secret seen twice counts twice).
    counts: BTreeMap<String, usize>,
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    /// Replacements made so far, per kind.
    pub fn counts(&self) -> &BTreeMap<String, usize> {
        &self.counts
    }

    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }

    fn placeholder(&mut self, kind: &'static str, secret: &str) -> String {
        *self.counts.entry(kind.to_string()).or_default() += 1;
        if let Some(p) = self.seen.get(secret) {
            return p.clone();
        }
        let n = self.per_kind.entry(kind).or_default();
        *n += 1;
        let p = format!("«SECRET_{kind}_{n}»");
        self.seen.insert(secret.to_string(), p.clone());
        p
    }

    /// `text` with every secret replaced.
    pub fn redact(&mut self, text: &str) -> String {
        let mut out = text.to_string();
        for r in rules() {
            if !r.re.is_match(&out) {
                continue;
            }
            let mut next = String::with_capacity(out.len());
            let mut last = 0;
            for caps in r.re.captures_iter(&out) {
                let Some(m) = caps.name("s").or_else(|| caps.get(0)) else {
                    continue;
                };
                let secret = m.as_str();
                if r.min_entropy > 0.0 && entropy(secret) < r.min_entropy {
                    continue;
                }
                next.push_str(&out[last..m.start()]);
                let p = self.placeholder(r.kind, secret);
                next.push_str(&p);
                last = m.end();
            }
            next.push_str(&out[last..]);
            out = next;
        }
        out
    }

    /// A `name = value` pair whose name says it is a secret (a tag `db_password: hunter2x`):
    /// the value goes whole when it is long and random enough, else through [`redact`].
    ///
    /// [`redact`]: Redactor::redact
    pub fn redact_named(&mut self, name: &str, value: &str) -> String {
        let v = value.trim();
        if is_secret_name(name) && v.chars().count() >= 6 && entropy(v) >= 2.5 {
            return self.placeholder("NAMED", v);
        }
        self.redact(value)
    }

    /// Redact every string (and object key) inside a JSON value.
    pub fn redact_json(&mut self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(s) => Value::String(self.redact(s)),
            Value::Array(a) => Value::Array(a.iter().map(|v| self.redact_json(v)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Value::String(s) => Value::String(self.redact_named(k, s)),
                            other => self.redact_json(other),
                        };
                        (self.redact(k), v)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A seeded corpus of synthetic secrets, each in a realistic context: (kind, context,
    /// secret). Exported for the integration-style tests in this module's parent.
    pub(crate) fn corpus() -> Vec<(&'static str, String, String)> {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\nVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n-----END RSA PRIVATE KEY-----".to_string();
        let ec = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yByxZpYRTBnVJk5oQFFwUbO1ms8oAoGCCqGSM49\n".to_string();
        let mut v = vec![
            ("AWS", "aws_access_key_id = {}", "AKIAIOSFODNN7EXAMPL3".to_string()),
            ("AWS", "creds: {} in user data", "ASIAY34FZKBOKMUTVV7A".to_string()),
            (
                "AWS_SECRET",
                "aws_secret_access_key={}",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYz3XAmPLEKY".to_string(),
            ),
            (
                "JWT",
                "Authorization header was {} (captured)",
                "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c".to_string(),
            ),
            ("PRIVATE_KEY", "user-data contains {} for ssh", pem),
            ("PRIVATE_KEY", "truncated: {}", ec),
            (
                "GITHUB",
                "export GITHUB_TOKEN {}",
                "ghp_R4nd0mT0k3nV4lu3F0rT3st1ng0123456789".to_string(),
            ),
            (
                "GITHUB",
                "pat {} found in repo",
                "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP".to_string(),
            ),
            (
                "SLACK",
                "slack bot {} in env",
                "xoxb-2431234567-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx".to_string(),
            ),
            (
                "SLACK",
                "webhook {} posted",
                "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX".to_string(),
            ),
            (
                "OPENAI",
                "OPENAI key {} leaked",
                "sk-proj-Ab3dEf6hIj9lMn2pQr5tUv8xYz1AbCdEfGhIjKlMnOpQ".to_string(),
            ),
            (
                "ANTHROPIC",
                "claude key {}",
                "sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0FeDcBa".to_string(),
            ),
            ("GCP", "maps key {}", "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY".to_string()),
            (
                "GITLAB",
                "gitlab {}",
                "glpat-Xy7Kq2Lm9Np4Rs6Tv8Wz".to_string(),
            ),
            (
                "GENERIC",
                "DB_PASSWORD={} in the task definition",
                "Tr0ub4dor&3xQz9Lk2Pm".to_string(),
            ),
            (
                "GENERIC",
                "\"client_secret\": \"{}\"",
                "a8Fk29dLq0ZmX7cVb3NwRt6Y".to_string(),
            ),
            (
                "GENERIC",
                "api_key: {}",
                "9f8e7d6c5b4a39281706f5e4d3c2b1a0".to_string(),
            ),
            (
                "URL_PASSWORD",
                "DATABASE_URL=postgres://admin:{}@db.internal:5432/app",
                "S3cr3tP4ssw0rdXyz".to_string(),
            ),
            (
                "BEARER",
                "curl -H 'Authorization: Bearer {}' https://api",
                "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZg".to_string(),
            ),
        ];
        v.iter_mut()
            .map(|(k, ctx, s)| (*k, ctx.replace("{}", s), std::mem::take(s)))
            .collect()
    }

    #[test]
    fn every_seeded_secret_is_redacted_with_a_placeholder() {
        for (kind, text, secret) in corpus() {
            let mut r = Redactor::new();
            let out = r.redact(&text);
            assert!(!out.contains(&secret), "{kind}: secret survived in {out:?}");
            assert!(
                out.contains("«SECRET_"),
                "{kind}: no placeholder in {out:?}"
            );
            assert!(r.total() >= 1, "{kind}");
        }
    }

    #[test]
    fn the_same_secret_gets_the_same_placeholder() {
        let mut r = Redactor::new();
        let a = r.redact("key AKIAIOSFODNN7EXAMPL3 and again AKIAIOSFODNN7EXAMPL3");
        assert_eq!(a, "key «SECRET_AWS_1» and again «SECRET_AWS_1»");
        let b = r.redact("other AKIAJ7Q3ZB6KXUMVW2LC, first AKIAIOSFODNN7EXAMPL3");
        assert_eq!(b, "other «SECRET_AWS_2», first «SECRET_AWS_1»");
        assert_eq!(r.counts().get("AWS"), Some(&4));
    }

    #[test]
    fn ordinary_cloud_text_is_left_alone() {
        let clean = [
            "arn:aws:s3:::prod-customer-exports",
            "arn:aws:iam::123456789012:role/OrganizationAccountAccessRole",
            "S3 bucket allows public read access",
            "Security group sg-0a1b2c3d4e5f67890 allows 0.0.0.0/0 on port 22",
            "CVE-2024-3094 in xz-utils 5.6.0 (fixed in 5.6.2)",
            "token expiry is 10 minutes",
            "password policy: minimum length = 14",
            "/subscriptions/0b1f6471-1bf0-4dda-aec3-cb9272f09590/resourceGroups/rg-prod",
            "env=prod owner=payments-team data-classification=confidential",
            "Ensure IAM password policy requires at least one uppercase letter",
            "kubectl -n payments get deployment api-gateway",
        ];
        for t in clean {
            let mut r = Redactor::new();
            assert_eq!(r.redact(t), t, "false positive");
            assert_eq!(r.total(), 0);
        }
    }

    #[test]
    fn named_values_go_whole_and_low_entropy_ones_stay() {
        let mut r = Redactor::new();
        assert_eq!(
            r.redact_named("db_password", "hunter2-Xq9"),
            "«SECRET_NAMED_1»"
        );
        assert_eq!(r.redact_named("env", "production"), "production");
        assert_eq!(r.redact_named("password_policy", "strict"), "strict");
    }

    #[test]
    fn json_is_redacted_in_keys_values_and_nesting() {
        let mut r = Redactor::new();
        let v = serde_json::json!({
            "userData": "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPL3",
            "nested": [{"apiToken": "ghp_R4nd0mT0k3nV4lu3F0rT3st1ng0123456789"}],
            "port": 22
        });
        let out = r.redact_json(&v).to_string();
        assert!(!out.contains("AKIAIOSFODNN7EXAMPL3"), "{out}");
        assert!(!out.contains("ghp_R4nd0m"), "{out}");
        assert!(out.contains("\"port\":22"));
    }

    #[test]
    fn entropy_of_known_strings() {
        assert_eq!(entropy(""), 0.0);
        assert_eq!(entropy("aaaa"), 0.0);
        assert!((entropy("abcd") - 2.0).abs() < 1e-9);
    }
}
