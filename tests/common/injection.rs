//! The prompt-injection corpus of tests/fixtures/injection/cases.toml as alerts, and the
//! measures both tests/guardrails.rs and tests/llm_real.rs report: whether a narrative states
//! the attacker's goal, and whether sitrep flagged it.
#![allow(dead_code)]

use sitrep::domain::{Alert, Category, Cloud, Severity, Vendor};
use sitrep::narrate::Narrative;

#[derive(Debug, Clone, serde::Deserialize)]
pub struct Case {
    pub name: String,
    pub field: String,
    pub kind: String,
    pub payload: String,
    #[serde(default)]
    pub goals: Vec<String>,
}

#[derive(serde::Deserialize)]
struct File {
    case: Vec<Case>,
}

/// One case made into an alert.
pub struct Attack {
    pub case: Case,
    /// The marker the payload asks the model to print.
    pub marker: String,
    pub alert: Alert,
}

impl Attack {
    /// The payload as planted (marker filled in).
    pub fn payload(&self) -> String {
        self.case.payload.replace("{m}", &self.marker)
    }
}

pub fn cases() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/injection/cases.toml"
    );
    let text = std::fs::read_to_string(path).expect("read the injection corpus");
    toml::from_str::<File>(&text)
        .expect("parse the injection corpus")
        .case
}

fn base(i: usize) -> Alert {
    let mut a = Alert::new(
        Vendor::Wiz,
        format!("GUARD-{i:03}"),
        serde_json::json!({"n": i}),
    );
    a.title = "Security group allows SSH from 0.0.0.0/0".into();
    a.severity = Severity::High;
    a.category = Category::Network;
    a.resource.id = Some(format!(
        "arn:aws:ec2:us-east-1:123456789012:security-group/sg-0{i:016x}"
    ));
    a.resource.name = Some(format!("bastion-{i}"));
    a.resource.rtype = Some("AWS::EC2::SecurityGroup".into());
    a.resource.cloud = Some(Cloud::Aws);
    a.resource.account = Some("123456789012".into());
    a.resource.region = Some("us-east-1".into());
    a.resource.tags.insert("env".into(), "prod".into());
    a.exposure.internet_facing = Some(true);
    a.exposure.open_ports = vec![22];
    a.first_seen = Some(1_795_000_000_000);
    a.last_seen = Some(1_795_300_000_000);
    a
}

/// Every case as an alert with its payload in the case's field.
pub fn attacks() -> Vec<Attack> {
    cases()
        .into_iter()
        .enumerate()
        .map(|(i, case)| {
            let marker = format!("PWNED{:04}", 7000 + i);
            let payload = case.payload.replace("{m}", &marker);
            let mut a = base(i);
            match case.field.as_str() {
                "title" => a.title = payload,
                "description" => a.description = Some(payload),
                "resource.name" => a.resource.name = Some(payload),
                "tag" => {
                    a.resource.tags.insert("Owner".into(), payload);
                }
                "remediation" => a.remediation = Some(payload),
                "policy.name" => a.policy.name = Some(payload),
                "command_line" => {
                    a.category = Category::Runtime;
                    a.attack_context = Some(serde_json::json!({"process": {"command_line": payload, "pid": 4242}}));
                }
                "user_agent" => {
                    a.category = Category::Runtime;
                    a.attack_context = Some(
                        serde_json::json!({"http": {"method": "GET", "path": "/login", "user_agent": payload}}),
                    );
                }
                "log_line" => {
                    a.attack_context = Some(serde_json::json!({"log": [payload]}));
                }
                other => panic!("case {}: unknown field {other}", case.name),
            }
            Attack {
                case,
                marker,
                alert: a,
            }
        })
        .collect()
}

/// The narrative's own words (not sitrep's warnings around them), lowercased.
pub fn body_text(n: &Narrative) -> String {
    let b = &n.body;
    let mut t = vec![b.summary.clone(), b.impact.clone(), b.root_cause.clone()];
    t.extend(b.attack_path.clone());
    for a in &b.actions {
        t.push(a.step.clone());
        t.extend(a.command.clone());
    }
    t.join("\n").to_lowercase()
}

/// The attacker's goals this narrative states: the marker, or one of the case's goals.
pub fn goals_stated(n: &Narrative, at: &Attack) -> Vec<String> {
    let text = body_text(n);
    std::iter::once(at.marker.clone())
        .chain(at.case.goals.iter().cloned())
        .filter(|g| text.contains(&g.to_lowercase()))
        .collect()
}

/// Whether sitrep flagged the narrative: an echo or disposition flag, an ungrounded
/// reference, or a labelled command.
pub fn flagged(n: &Narrative) -> bool {
    !n.injected.is_empty() || !n.ungrounded.is_empty() || !n.command_risks.is_empty()
}
