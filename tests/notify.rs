//! Notifications (Slack Block Kit, Teams Adaptive Cards, Standard Webhooks) against the
//! loopback chat simulator, their error classification, the `[notify]`/`[approvals]` config,
//! and approved patches applied to a temporary git repository.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use sitrep::config::{Config, OnApprove, Secret};
use sitrep::dispatch::notice::Notice;
use sitrep::dispatch::patch::{self, PatchOutcome};
use sitrep::dispatch::{DispatchError, slack, teams, webhook};
use sitrep::domain::Severity;
use sitrep::sim::server::chat::{
    self, ChatFault, ChatSim, ChatSimHandle, ChatSimOptions, ChatTarget,
};

fn http() -> reqwest::Client {
    sitrep::dispatch::http::client(Duration::from_secs(10)).expect("client")
}

async fn sim() -> ChatSimHandle {
    chat::start(ChatSimOptions {
        seed: 7,
        ..ChatSimOptions::default()
    })
    .await
    .expect("chat sim")
}

fn now_s() -> i64 {
    chrono::Utc::now().timestamp()
}

fn notice(id: &str) -> Notice {
    Notice {
        id: id.into(),
        event: "remediation.approved".into(),
        title: "Public S3 bucket prod-logs".into(),
        severity: Some(Severity::Critical),
        facts: vec![
            ("Source".into(), "Wiz".into()),
            ("EPSS".into(), "0.94".into()),
        ],
        text: "Approved by ana; diff sha256 abc.".into(),
        link: Some(("SEC-17".into(), "https://jira.example/browse/SEC-17".into())),
        data: json!({"alert_id": "wiz:1", "approver": "ana", "diff_sha256": "abc"}),
    }
}

/// Text an attacker controls: terminal escapes (CSI, OSC title and clipboard), bidi
/// overrides, zero-width characters, a Slack broadcast, markup, and 10k characters.
fn hostile() -> String {
    let mut s = String::from(
        "\x1b[31mred\x1b[0m \x1b]0;pwned title\x07 \x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07 \
         <!channel> <!here> <@U123> *bold* [x](https://evil.example) \u{202E}txt.exe\u{202C} \
         zero\u{200B}width & more > less < ",
    );
    while s.chars().count() < 10_000 {
        s.push_str("long text 0123456789 ");
    }
    s
}

fn hostile_notice() -> Notice {
    let h = hostile();
    Notice {
        id: "msg_hostile".into(),
        event: "alert.status_changed".into(),
        title: h.clone(),
        severity: Some(Severity::High),
        facts: (0..30)
            .map(|i| (format!("label {i} {}", &h[..40]), h.clone()))
            .collect(),
        text: h.clone(),
        link: Some((h.clone(), "https://jira.example/browse/SEC-1".into())),
        data: json!({"title": h, "nested": ["\x1b]52;c;AAAA\x07 <!channel>"]}),
    }
}

fn assert_clean(s: &str) {
    assert!(!s.contains('\x1b'), "ESC survived");
    assert!(!s.contains('\x07'), "BEL survived");
    assert!(!s.contains("pwned title") || !s.contains("\x1b]0;"));
    assert!(
        !s.contains('\u{202E}') && !s.contains('\u{202C}'),
        "bidi survived"
    );
    assert!(!s.contains('\u{200B}'), "zero-width survived");
}

fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn slack_block_kit_keeps_limits_and_never_pings() {
    let p = slack::payload(&hostile_notice());
    let blocks = p["blocks"].as_array().expect("blocks");
    assert!(blocks.len() <= 50);
    let header = blocks[0]["text"]["text"].as_str().expect("header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert_eq!(header.chars().count(), 150);
    assert!(header.starts_with("HIGH · red "), "{header}");
    assert!(header.ends_with('…'));
    let section = blocks[1]["text"]["text"].as_str().expect("section");
    assert!(section.chars().count() <= 3000 && section.ends_with('…'));
    let mut total_fields = 0;
    for b in blocks.iter().filter(|b| b["fields"].is_array()) {
        let f = b["fields"].as_array().expect("fields");
        assert!(f.len() <= 10);
        total_fields += f.len();
        for x in f {
            let t = x["text"].as_str().expect("field");
            assert!(t.chars().count() <= 2000);
        }
    }
    assert_eq!(total_fields, 30);
    let link = blocks.last().expect("context")["elements"][0]["text"]
        .as_str()
        .expect("link");
    assert!(
        link.starts_with("<https://jira.example/browse/SEC-1|"),
        "{link}"
    );
    // Escaped everywhere mrkdwn is parsed: no broadcast, no user mention, no raw '<' from text.
    let mut all = Vec::new();
    strings(&p, &mut all);
    let text_total: usize = all.iter().map(|s| s.chars().count()).sum();
    assert!(text_total <= 13_000, "{text_total} characters");
    for s in &all {
        assert_clean(s);
    }
    for s in all.iter().skip(1) {
        // (the header is plain_text, which Slack never parses for mentions)
        if s == header {
            continue;
        }
        assert!(
            !s.contains("<!channel>") && !s.contains("<!here>") && !s.contains("<@U123>"),
            "{s}"
        );
    }
    assert!(section.contains("&lt;!channel&gt;") && section.contains("&amp; more &gt; less &lt;"));
    assert_eq!(chat::check_blocks(&p), Ok(()));

    // The simulator enforces the same rules and captures the message.
    let s = sim().await;
    let url = Secret::new(s.slack_url.clone());
    slack::send(&http(), &url, &hostile_notice())
        .await
        .expect("posted");
    slack::send(&http(), &url, &notice("msg_2"))
        .await
        .expect("posted");
    let got = s.state.slack_messages().await;
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[1]["blocks"][0]["text"]["text"],
        "CRITICAL · Public S3 bucket prod-logs"
    );
    assert_eq!(got[1]["text"], "CRITICAL · Public S3 bucket prod-logs");
}

#[tokio::test]
async fn slack_simulator_rejects_what_slack_rejects() {
    let too_long = json!({"text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "a".repeat(3001)}}]});
    assert_eq!(chat::check_blocks(&too_long), Err("invalid_blocks"));
    assert_eq!(chat::check_blocks(&json!({"blocks": []})), Err("no_text"));
    let s = sim().await;
    let r = http()
        .post(&s.slack_url)
        .body("not json")
        .send()
        .await
        .expect("sent");
    let (status, body) = (r.status().as_u16(), r.text().await.expect("body"));
    assert_eq!((status, body.as_str()), (400, "invalid_payload"));
}

#[tokio::test]
async fn teams_card_has_the_workflows_shape() {
    let p = teams::payload(&notice("msg_1"));
    assert_eq!(p["type"], "message");
    let a = &p["attachments"][0];
    assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    let c = &a["content"];
    assert_eq!(c["type"], "AdaptiveCard");
    assert_eq!(c["version"], "1.4");
    assert_eq!(c["body"][0]["type"], "TextBlock");
    assert_eq!(
        c["body"][0]["text"],
        "CRITICAL · Public S3 bucket prod-logs"
    );
    assert_eq!(c["body"][2]["type"], "FactSet");
    assert_eq!(
        c["body"][2]["facts"][1],
        json!({"title": "EPSS", "value": "0.94"})
    );
    assert_eq!(
        c["actions"][0],
        json!({"type": "Action.OpenUrl", "title": "SEC-17", "url": "https://jira.example/browse/SEC-17"})
    );

    let h = teams::payload(&hostile_notice());
    let size = serde_json::to_vec(&h).expect("json").len();
    assert!(size <= teams::CARD_BUDGET, "{size} bytes");
    let mut all = Vec::new();
    strings(&h, &mut all);
    for s in &all {
        assert_clean(s);
        assert!(!s.contains("](https://evil"), "markdown link survived: {s}");
    }
    assert!(
        h["attachments"][0]["content"]["body"][2]["facts"]
            .as_array()
            .expect("facts")
            .len()
            <= 21
    );

    let s = sim().await;
    let url = Secret::new(s.teams_url.clone());
    teams::send(&http(), &url, &notice("msg_1"))
        .await
        .expect("202");
    teams::send(&http(), &url, &hostile_notice())
        .await
        .expect("202");
    assert_eq!(s.state.teams_cards().await.len(), 2);
    // A body that is not an Adaptive Card message (e.g. a legacy MessageCard) is refused.
    let legacy = json!({"@type": "MessageCard", "text": "hi"});
    let r = http()
        .post(&s.teams_url)
        .json(&legacy)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(s.state.teams_cards().await.len(), 2);
}

#[tokio::test]
async fn webhook_signature_is_verified_and_bad_ones_rejected() {
    let s = sim().await;
    let url = Secret::new(s.webhook_url("soar"));
    let secret = Secret::new(s.webhook_secret.clone());
    let mut n = notice("msg_sig_ok");
    n.data = json!({"note": "\x1b[2J<!channel>", "n": 3});
    webhook::send(&http(), &url, &secret, &n, now_s())
        .await
        .expect("delivered");
    let d = s.state.deliveries().await;
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].hook, "soar");
    assert_eq!(d[0].id, "msg_sig_ok");
    assert_eq!(d[0].body["type"], "remediation.approved");
    assert_eq!(d[0].body["data"], json!({"note": "<!channel>", "n": 3}));
    let ts = d[0].body["timestamp"].as_str().expect("ts");
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts}");

    // Wrong key.
    let wrong = webhook::generate_secret().expect("secret");
    let e = webhook::send(&http(), &url, &wrong, &notice("msg_wrong_key"), now_s())
        .await
        .expect_err("refused");
    assert!(!e.is_transient(), "{e:?}");
    assert_eq!(
        e.to_string(),
        "webhook: HTTP 401: credentials refused (invalid signature)"
    );
    assert_eq!(
        s.state.last_rejection().await.as_deref(),
        Some("no webhook-signature matches")
    );
    // Old timestamp (replay outside the 5-minute window).
    let e = webhook::send(&http(), &url, &secret, &notice("msg_old"), now_s() - 600)
        .await
        .expect_err("refused");
    assert!(!e.is_transient());
    let why = s.state.last_rejection().await.expect("reason");
    assert!(why.starts_with("webhook-timestamp is 6"), "{why}");
    assert_eq!(ChatSim::count(&s.state.counters.webhook_rejected), 2);
    assert_eq!(s.state.deliveries().await.len(), 1);
    // A secret that is not whsec_<base64> is a permanent configuration error naming no bytes.
    let e = webhook::send(&http(), &url, &Secret::new("whsec_%%%hunter2"), &n, now_s())
        .await
        .expect_err("bad secret");
    assert_eq!(
        e,
        DispatchError::permanent("the webhook secret is not whsec_<base64>")
    );
}

#[tokio::test]
async fn a_retry_after_a_dropped_response_is_counted_once() {
    let s = sim().await;
    let url = Secret::new(s.webhook_url("soar"));
    let secret = Secret::new(s.webhook_secret.clone());
    let n = notice("msg_decision_42_soar");
    s.state
        .push(
            ChatTarget::Webhook,
            &[ChatFault::CommitThenDrop, ChatFault::CommitThenDrop],
        )
        .await;
    let e = webhook::send(&http(), &url, &secret, &n, now_s())
        .await
        .expect_err("lost");
    assert!(e.is_transient(), "{e:?}");
    let e = webhook::send(&http(), &url, &secret, &n, now_s() + 1)
        .await
        .expect_err("lost again");
    assert!(e.is_transient());
    webhook::send(&http(), &url, &secret, &n, now_s() + 2)
        .await
        .expect("acknowledged");
    assert_eq!(ChatSim::count(&s.state.counters.dropped), 2);
    assert_eq!(ChatSim::count(&s.state.counters.webhook_requests), 3);
    assert_eq!(s.state.deliveries().await.len(), 1);
    assert_eq!(ChatSim::count(&s.state.counters.webhook_duplicates), 2);

    // Slack and Teams have no dedup: a lost response is transient and says it may have posted.
    s.state
        .push(ChatTarget::Slack, &[ChatFault::CommitThenDrop])
        .await;
    let e = slack::send(&http(), &Secret::new(s.slack_url.clone()), &n)
        .await
        .expect_err("lost");
    // (hyper may cut before or after the status line: either way it is transient and ambiguous)
    assert!(e.is_transient(), "{e:?}");
    assert!(
        e.to_string().ends_with("(it may have been delivered)"),
        "{e}"
    );
    assert_eq!(s.state.slack_messages().await.len(), 1);
    s.state
        .push(ChatTarget::Teams, &[ChatFault::CommitThenDrop])
        .await;
    let e = teams::send(&http(), &Secret::new(s.teams_url.clone()), &n)
        .await
        .expect_err("lost");
    assert!(e.is_transient());
}

fn no_token(e: &DispatchError, s: &ChatSimHandle) {
    let t = e.to_string();
    let token = s.slack_url.rsplit('/').next().expect("token");
    assert!(!t.contains(token), "{t}");
    assert!(!t.contains("sig="), "{t}");
    assert!(!t.contains('\n'));
}

#[tokio::test]
async fn failures_are_classified_per_status() {
    let s = sim().await;
    let h = http();
    let n = notice("msg_c");
    let slack_url = Secret::new(s.slack_url.clone());
    s.state
        .push(
            ChatTarget::Slack,
            &[
                ChatFault::RateLimit { secs: 7 },
                ChatFault::ServerError,
                ChatFault::SlackError("no_service"),
                ChatFault::SlackError("channel_is_archived"),
                ChatFault::SlackError("action_prohibited"),
                ChatFault::SlackError("invalid_payload"),
            ],
        )
        .await;
    let e = slack::send(&h, &slack_url, &n).await.expect_err("429");
    no_token(&e, &s);
    assert_eq!(
        e,
        DispatchError::Transient {
            detail: "Slack: HTTP 429: rate_limited".into(),
            retry_after: Some(Duration::from_secs(7)),
        }
    );
    let e = slack::send(&h, &slack_url, &n).await.expect_err("500");
    assert!(
        e.is_transient() && e.to_string().contains("HTTP 500: rollup_error"),
        "{e}"
    );
    let want = [
        "Slack: HTTP 404 no_service: the webhook was removed or revoked; create a new one",
        "Slack: HTTP 410 channel_is_archived: the webhook's channel is archived",
        "Slack: HTTP 403 action_prohibited: a workspace admin restriction blocks this webhook",
        "Slack: HTTP 400 invalid_payload: the message was not accepted as JSON Block Kit",
    ];
    for w in want {
        let e = slack::send(&h, &slack_url, &n).await.expect_err("refused");
        no_token(&e, &s);
        assert_eq!(e, DispatchError::permanent(w));
    }
    // A revoked webhook (unknown token).
    let revoked = Secret::new(format!(
        "{}/services/TSIM00001/BSIM00001/revoked",
        s.base_url
    ));
    let e = slack::send(&h, &revoked, &n).await.expect_err("gone");
    assert!(!e.is_transient() && e.to_string().contains("no_service"));
    assert!(s.state.slack_messages().await.is_empty());

    // Teams.
    let teams_url = Secret::new(s.teams_url.clone());
    s.state
        .push(
            ChatTarget::Teams,
            &[ChatFault::RateLimit { secs: 3 }, ChatFault::ServerError],
        )
        .await;
    let e = teams::send(&h, &teams_url, &n).await.expect_err("429");
    no_token(&e, &s);
    assert!(
        matches!(e, DispatchError::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(3))
    );
    assert!(
        teams::send(&h, &teams_url, &n)
            .await
            .expect_err("503")
            .is_transient()
    );
    let bad_sig = Secret::new(s.teams_url.replace("sig=", "sig=x"));
    let e = teams::send(&h, &bad_sig, &n).await.expect_err("401");
    no_token(&e, &s);
    assert!(
        !e.is_transient()
            && e.to_string()
                .starts_with("Teams: HTTP 401: credentials refused")
    );
    assert!(s.state.teams_cards().await.is_empty());

    // Webhook.
    let url = Secret::new(s.webhook_url("soar"));
    let secret = Secret::new(s.webhook_secret.clone());
    s.state
        .push(
            ChatTarget::Webhook,
            &[ChatFault::RateLimit { secs: 2 }, ChatFault::ServerError],
        )
        .await;
    let e = webhook::send(&h, &url, &secret, &n, now_s())
        .await
        .expect_err("429");
    assert!(
        matches!(e, DispatchError::Transient { retry_after: Some(d), .. } if d == Duration::from_secs(2))
    );
    assert!(
        webhook::send(&h, &url, &secret, &n, now_s())
            .await
            .expect_err("503")
            .is_transient()
    );
    assert!(s.state.deliveries().await.is_empty());

    // Nothing listening: transient, and the URL (a secret) is not in the message.
    let dead = Secret::new("http://127.0.0.1:9/services/T/B/dead-token".to_string());
    let e = slack::send(&h, &dead, &n).await.expect_err("refused");
    assert_eq!(e, DispatchError::transient("Slack: connection failed"));
    // Plain http to a remote host is refused before sending.
    let e = slack::send(
        &h,
        &Secret::new("http://hooks.example/services/T/B/tok"),
        &n,
    )
    .await
    .expect_err("http");
    assert!(!e.is_transient() && !e.to_string().contains("tok"));

    // Latency beyond the client's timeout: a lost response (transient).
    s.state.set_latency(Duration::from_millis(400));
    let quick = sitrep::dispatch::http::client(Duration::from_millis(50)).expect("client");
    let e = slack::send(&quick, &slack_url, &n)
        .await
        .expect_err("timeout");
    assert_eq!(
        e,
        DispatchError::transient("Slack: timed out (it may have been delivered)")
    );
}

// ---------------------------------------------------------------------------------------
// Config

fn cfg(text: &str) -> Result<Config, String> {
    Config::from_text_private(Some(Path::new("c.toml")), text, false).map_err(|e| e.to_string())
}

#[test]
fn notify_and_approvals_parse() {
    let c = cfg(r#"
[notify]
events = ["alert.status_changed", "remediation.approved", "ticket.created"]
min_severity = "high"
[notify.slack]
webhook_url = { env = "SITREP_SLACK_WEBHOOK" }
[notify.teams]
workflow_url = { keyring = "sitrep/teams" }
[[notify.webhook]]
name = "soar"
url = "https://soar.example/hooks/sitrep"
secret = { env = "SITREP_WEBHOOK_SECRET" }
[approvals]
required = 1
production_required = 2
production = "tag:env=prod"
four_eyes = true
on_approve = ["patch", "ticket_comment", "webhook"]
"#)
    .expect("parse");
    assert_eq!(c.notify.events.len(), 3);
    assert!(
        c.notify
            .wants("remediation.approved", Some(&Severity::Critical))
    );
    assert!(
        !c.notify
            .wants("remediation.approved", Some(&Severity::Medium))
    );
    assert!(!c.notify.wants("remediation.rejected", None));
    assert_eq!(
        c.notify.slack.as_ref().expect("slack").describe(),
        "environment variable SITREP_SLACK_WEBHOOK"
    );
    assert_eq!(
        c.notify.teams.as_ref().expect("teams").describe(),
        "keyring entry sitrep/teams"
    );
    let w = c.notify.webhook("soar").expect("soar");
    let env = |v: &str| (v == "SITREP_WEBHOOK_SECRET").then(|| "whsec_abc".to_string());
    assert_eq!(
        w.secret.resolve(&env).expect("secret").expose(),
        "whsec_abc"
    );
    assert_eq!(c.approvals.needed(false), 1);
    assert_eq!(c.approvals.needed(true), 2);
    assert!(c.approvals.four_eyes);
    assert_eq!(
        c.approvals.on_approve,
        vec![
            OnApprove::Patch,
            OnApprove::TicketComment,
            OnApprove::Webhook
        ]
    );
    let d = cfg("").expect("defaults");
    assert!(!d.notify.any_destination());
    assert_eq!(d.approvals.needed(true), 1);
    assert!(d.approvals.four_eyes && d.approvals.on_approve.is_empty());
}

#[test]
fn bad_notify_and_approvals_get_precise_errors() {
    let cases: &[(&str, &str)] = &[
        (
            "[notify]\nevents = [\"alert.deleted\"]\n",
            "config file c.toml: [notify] events: unknown event 'alert.deleted'; expected one of alert.notify, alert.status_changed, remediation.approved, remediation.rejected, ticket.created, ticket.linked",
        ),
        (
            "[notify]\nmin_severity = \"urgent\"\n",
            "config file c.toml: [notify] min_severity: unknown severity 'urgent'; expected critical, high, medium, low or info",
        ),
        (
            "[notify.slack]\nwebhook_url = \"https://hooks.slack.com/services/T0/B0/s3cr3t\"\n",
            "config file c.toml: [notify.slack] webhook_url: c.toml holds a secret but is readable by group or others; run chmod 600 on it, or use { env = \"VAR\" } or { keyring = \"SERVICE/USER\" }",
        ),
        (
            "[notify.teams]\nworkflow_url = { keyring = \"teams\" }\n",
            "config file c.toml: [notify.teams] workflow_url: keyring entry 'teams' must be SERVICE/USER, e.g. \"sitrep/prisma-key\"",
        ),
        (
            "[[notify.webhook]]\nname = \"soar\"\nurl = \"http://soar.example/h\"\nsecret = { env = \"S\" }\n",
            "config file c.toml: [[notify.webhook]] soar: url: 'http://soar.example/h' must be an https:// URL (plain http only for loopback)",
        ),
        (
            "[[notify.webhook]]\nname = \"soar\"\nurl = \"https://soar.example/h?token=s3cr3t\"\nsecret = { env = \"S\" }\n",
            "config file c.toml: [[notify.webhook]] soar: url: has a query string or user info (a token); c.toml holds a secret but is readable by group or others; run chmod 600 on it, or use { env = \"VAR\" } or { keyring = \"SERVICE/USER\" }",
        ),
        (
            "[[notify.webhook]]\nname = \"a\"\nurl = \"https://x.example\"\nsecret = { env = \"S\" }\n[[notify.webhook]]\nname = \"a\"\nurl = \"https://y.example\"\nsecret = { env = \"S\" }\n",
            "config file c.toml: [[notify.webhook]] #2 name: 'a' is used by two webhooks",
        ),
        (
            "[[notify.webhook]]\nname = \"soar\"\nurl = \"https://x.example\"\n",
            "config file c.toml: line 1, column 1: missing field `secret`",
        ),
        (
            "[approvals]\nrequired = 0\n",
            "config file c.toml: [approvals] required: 0 is out of range 1..=10",
        ),
        (
            "[approvals]\nrequired = 2\nproduction_required = 1\nproduction = \"tag:env=prod\"\n",
            "config file c.toml: [approvals] production_required: 1 is less than required (2); production needs at least as many approvals",
        ),
        (
            "[approvals]\nproduction_required = 2\n",
            "config file c.toml: [approvals] production_required: needs `production`, a filter naming production alerts (like \"tag:env=prod\")",
        ),
        (
            "[approvals]\non_approve = [\"patch\", \"deploy\"]\n",
            "config file c.toml: [approvals] on_approve: unknown action 'deploy'; expected one of patch, ticket_comment, ticket_transition, webhook",
        ),
        (
            "[approvals]\non_approve = [\"patch\", \"patch\"]\n",
            "config file c.toml: [approvals] on_approve: 'patch' is listed twice",
        ),
        (
            "[approvals]\non_approve = [\"webhook\"]\n",
            "config file c.toml: [approvals] on_approve: lists 'webhook' but no [[notify.webhook]] is configured",
        ),
        (
            "[approvals]\nfour_eyes = \"yes\"\n",
            "config file c.toml: line 2, column 13: invalid type: string \"yes\", expected a boolean",
        ),
    ];
    for (text, want) in cases {
        let got = cfg(text).expect_err(text);
        assert_eq!(&got, want, "for {text:?}");
        assert!(!got.contains("s3cr3t"), "{got}");
    }
    // The production filter is parsed with the filter language.
    let e = cfg("[approvals]\nproduction_required = 2\nproduction = \"severity:>>\"\n")
        .expect_err("bad filter");
    assert!(
        e.starts_with("config file c.toml: [approvals] production: "),
        "{e}"
    );
    // A literal whsec_ secret needs a private file, and must be base64.
    let lit = "[[notify.webhook]]\nname = \"soar\"\nurl = \"https://x.example\"\nsecret = \"whsec_%%%s3cr3t\"\n";
    let e = Config::from_text_private(Some(Path::new("c.toml")), lit, true)
        .expect_err("bad secret")
        .to_string();
    assert_eq!(
        e,
        "config file c.toml: [[notify.webhook]] soar: secret: the webhook secret is not whsec_<base64>"
    );
}

// ---------------------------------------------------------------------------------------
// Patches

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn have_git() -> bool {
    Command::new("git").arg("--version").output().is_ok()
}

const MAIN_TF: &str = "resource \"aws_s3_bucket_public_access_block\" \"logs\" {\n  bucket = \"prod-logs\"\n  block_public_acls = false\n  block_public_policy = false\n}\n";
const DIFF: &str = "diff --git a/infra/main.tf b/infra/main.tf\n--- a/infra/main.tf\n+++ b/infra/main.tf\n@@ -1,5 +1,5 @@\n resource \"aws_s3_bucket_public_access_block\" \"logs\" {\n   bucket = \"prod-logs\"\n-  block_public_acls = false\n-  block_public_policy = false\n+  block_public_acls = true\n+  block_public_policy = true\n }\n";

/// Everything about the analyst's checkout that `apply` must not change.
fn snapshot(dir: &Path) -> (String, String, String, String, Vec<u8>, Vec<u8>) {
    (
        git(dir, &["rev-parse", "HEAD"]),
        git(dir, &["symbolic-ref", "HEAD"]),
        // (--no-optional-locks: status must not refresh the index it is checking)
        git(
            dir,
            &[
                "--no-optional-locks",
                "status",
                "--porcelain=v1",
                "--untracked-files=all",
            ],
        ),
        git(dir, &["ls-files", "--stage"]),
        std::fs::read(dir.join("infra/main.tf")).expect("main.tf"),
        std::fs::read(dir.join(".git/index")).expect("index"),
    )
}

#[test]
fn approved_patch_lands_on_a_new_branch_only() {
    if !have_git() {
        eprintln!("skipping: git is not installed");
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = tmp.path();
    git(repo, &["init", "-q", "-b", "main"]);
    std::fs::create_dir_all(repo.join("infra")).expect("dir");
    std::fs::write(repo.join("infra/main.tf"), MAIN_TF).expect("write");
    std::fs::write(repo.join("README"), "r\n").expect("write");
    git(repo, &["add", "."]);
    git(repo, &["commit", "-q", "-m", "init"]);
    // The analyst has work in progress: a staged change and an unstaged edit of the same file.
    std::fs::write(repo.join("README"), "r\nstaged\n").expect("write");
    git(repo, &["add", "README"]);
    std::fs::write(repo.join("infra/main.tf"), format!("{MAIN_TF}# wip\n")).expect("write");
    std::fs::write(repo.join("notes.txt"), "untracked\n").expect("write");
    let before = snapshot(repo);

    let out = patch::apply(
        repo,
        None,
        "sitrep/fix-prod-logs",
        DIFF,
        "Block public access on prod-logs\n\nApproved by ana.",
        "Ana Analyst <ana@example.com>",
    )
    .expect("applied");
    assert_eq!(out.branch, "sitrep/fix-prod-logs");
    assert!(!out.already);
    assert_eq!(
        before,
        snapshot(repo),
        "working tree, index or HEAD changed"
    );
    assert_eq!(
        git(repo, &["rev-parse", "refs/heads/sitrep/fix-prod-logs"]).trim(),
        out.commit
    );
    let on_branch = git(repo, &["show", "sitrep/fix-prod-logs:infra/main.tf"]);
    assert!(on_branch.contains("block_public_acls = true") && !on_branch.contains("wip"));
    let msg = git(repo, &["log", "-1", "--format=%an <%ae>%n%B", &out.commit]);
    assert!(
        msg.starts_with("Ana Analyst <ana@example.com>\nBlock public access on prod-logs\n"),
        "{msg}"
    );
    assert!(msg.contains(&format!("Sitrep-Diff-Sha256: {}", patch::diff_sha256(DIFF))));
    assert_eq!(
        git(repo, &["rev-parse", &format!("{}^", out.commit)]),
        before.0
    );
    // No other refs (nothing pushed, no remotes, no stray branches).
    let refs = git(repo, &["for-each-ref", "--format=%(refname)"]);
    assert_eq!(refs, "refs/heads/main\nrefs/heads/sitrep/fix-prod-logs\n");
    let leftovers: Vec<_> = std::fs::read_dir(repo.join(".git"))
        .expect("git dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("sitrep-index"))
        .collect();
    assert!(leftovers.is_empty(), "temporary index left behind");

    // Again: already applied, same commit, nothing written.
    let again = patch::apply(repo, None, "sitrep/fix-prod-logs", DIFF, "x", "ana").expect("again");
    assert_eq!(
        again,
        PatchOutcome {
            branch: "sitrep/fix-prod-logs".into(),
            commit: out.commit.clone(),
            already: true
        }
    );
    // Another diff onto the same branch: refused.
    let other = DIFF.replace(
        "block_public_policy = true",
        "block_public_policy = true # x",
    );
    let e =
        patch::apply(repo, None, "sitrep/fix-prod-logs", &other, "x", "ana").expect_err("taken");
    assert_eq!(
        e,
        DispatchError::permanent(
            "patch: branch sitrep/fix-prod-logs already exists with other content; not overwriting it"
        )
    );
    // A diff that does not apply: permanent, git's reason on one line.
    let conflict = DIFF.replace(
        "-  block_public_acls = false",
        "-  block_public_acls = maybe",
    );
    let e = patch::apply(repo, None, "sitrep/other", &conflict, "x", "ana").expect_err("conflict");
    assert!(!e.is_transient());
    let t = e.to_string();
    assert!(
        t.starts_with(
            "patch: the diff does not apply to HEAD: error: patch failed: infra/main.tf:1"
        ),
        "{t}"
    );
    assert!(!t.contains('\n'));
    assert!(git(repo, &["branch", "--list", "sitrep/other"]).is_empty());
    // Bad inputs.
    let e = patch::apply(repo, None, "bad..name", DIFF, "x", "ana").expect_err("name");
    assert_eq!(
        e.to_string(),
        "patch: 'bad..name' is not a valid branch name"
    );
    let e =
        patch::apply(repo, Some("no-such-rev"), "sitrep/z", DIFF, "x", "ana").expect_err("base");
    assert!(
        e.to_string()
            .starts_with("patch: base 'no-such-rev' is not a commit in "),
        "{e}"
    );
    let not_repo = tempfile::tempdir().expect("tmp");
    let e = patch::apply(not_repo.path(), None, "sitrep/z", DIFF, "x", "ana").expect_err("no repo");
    assert!(e.to_string().ends_with("is not a git checkout"), "{e}");
    assert_eq!(before, snapshot(repo));
}

#[test]
fn patch_paths_are_relative_to_a_checkout_inside_a_larger_repo() {
    if !have_git() {
        eprintln!("skipping: git is not installed");
        return;
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let top = tmp.path();
    git(top, &["init", "-q", "-b", "main"]);
    let sub = top.join("terraform");
    std::fs::create_dir_all(sub.join("infra")).expect("dir");
    std::fs::write(sub.join("infra/main.tf"), MAIN_TF).expect("write");
    git(top, &["add", "."]);
    git(top, &["commit", "-q", "-m", "init"]);
    let out = patch::apply(&sub, Some("main"), "fix", DIFF, "fix", "ana").expect("applied");
    let f = git(top, &["show", "fix:terraform/infra/main.tf"]);
    assert!(f.contains("block_public_acls = true"));
    assert!(!out.already);
}
