//! Slack incoming webhooks with Block Kit (docs/integrations.md §1.3).
//!
//! `POST <webhook URL>` with `{"text": fallback, "blocks": [...]}`; success is **HTTP 200 with
//! the body `ok`**. Errors come back as plain-text codes: `invalid_payload`, `no_service`,
//! `channel_not_found`, `channel_is_archived`, `action_prohibited`, … with 400/403/404/410
//! (permanent) or 429 with `Retry-After` and 5xx (transient).
//!
//! Limits kept: a `header` is `plain_text` ≤150 characters, a `section` text ≤3000, ≤10 fields
//! of ≤2000 each, ≤50 blocks, and the whole message stays under [`TOTAL_BUDGET`] characters
//! (Slack rejects long messages with `msg_blocks_too_long` around 13k). Every string is
//! sanitized, mrkdwn-escaped (`&`, `<`, `>`, so `<!channel>` never pings) and cut with `…`.
//! The webhook URL holds a token: it is a [`Secret`] and never appears in an error.

use serde_json::{Value, json};

use super::DispatchError;
use super::notice::{Notice, check_url, reply_lost, reply_snippet, send_failed, truncate_chars};
use crate::config::Secret;

pub const HEADER_MAX: usize = 150;
pub const SECTION_MAX: usize = 3000;
pub const FIELD_MAX: usize = 2000;
pub const FIELDS_PER_SECTION: usize = 10;
pub const BLOCKS_MAX: usize = 50;
/// Characters of text across all blocks.
pub const TOTAL_BUDGET: usize = 12_000;
/// The top-level `text` (the notification fallback).
pub const FALLBACK_MAX: usize = 300;

/// Escape Slack mrkdwn control characters (`&`, `<`, `>`) after sanitizing, and cut the result
/// to `max` characters without splitting an entity.
pub fn mrkdwn(s: &str, max: usize) -> String {
    let clean = crate::sanitize::text(s);
    escape_within(&clean, max)
}

/// [`mrkdwn`] on one line.
pub fn mrkdwn_line(s: &str, max: usize) -> String {
    let clean = crate::sanitize::one_line(s);
    escape_within(&clean, max)
}

fn escape_within(clean: &str, max: usize) -> String {
    let mut out = String::new();
    let mut used = 0usize;
    let total: usize = clean.chars().map(escaped_len).sum();
    let limit = if total <= max {
        max
    } else {
        max.saturating_sub(1)
    };
    for c in clean.chars() {
        let n = escaped_len(c);
        if used + n > limit {
            out.push('…');
            return out;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
        used += n;
    }
    out
}

fn escaped_len(c: char) -> usize {
    match c {
        '&' => 5,
        '<' | '>' => 4,
        _ => 1,
    }
}

/// The Block Kit message for `n`.
pub fn payload(n: &Notice) -> Value {
    // Shrink the long parts until the whole message fits the total budget.
    let mut text_max = SECTION_MAX;
    let mut field_max = FIELD_MAX;
    loop {
        let (p, chars) = build(n, text_max, field_max);
        if chars <= TOTAL_BUDGET || (text_max <= 200 && field_max <= 100) {
            return p;
        }
        text_max = (text_max / 2).max(200);
        field_max = (field_max / 2).max(100);
    }
}

fn build(n: &Notice, text_max: usize, field_max: usize) -> (Value, usize) {
    let mut blocks: Vec<Value> = Vec::new();
    let mut chars = 0usize;
    let headline = n.headline();
    let header = truncate_chars(&headline, HEADER_MAX);
    chars += header.chars().count();
    blocks.push(
        json!({"type": "header", "text": {"type": "plain_text", "text": header, "emoji": false}}),
    );
    let body = mrkdwn(&n.text, text_max);
    if !body.trim().is_empty() {
        chars += body.chars().count();
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": body}}));
    }
    let link = n.safe_link();
    // Room left for fact sections: the link's context block needs one.
    let fact_blocks_max = BLOCKS_MAX - blocks.len() - usize::from(link.is_some());
    let fact_slots = fact_blocks_max * FIELDS_PER_SECTION;
    let mut fields: Vec<Value> = Vec::new();
    for (i, (label, value)) in n.facts.iter().enumerate() {
        if i + 1 == fact_slots && n.facts.len() > fact_slots {
            let more = n.facts.len() - i;
            fields.push(json!({"type": "mrkdwn", "text": format!("…{more} more")}));
            break;
        }
        let label = mrkdwn_line(label, 100).replace('*', "");
        let label_len = label.chars().count() + 3;
        let value = mrkdwn(value, field_max.saturating_sub(label_len).max(1));
        let text = format!("*{label}*\n{value}");
        chars += text.chars().count();
        fields.push(json!({"type": "mrkdwn", "text": text}));
    }
    for chunk in fields.chunks(FIELDS_PER_SECTION) {
        blocks.push(json!({"type": "section", "fields": chunk}));
    }
    if let Some((label, url)) = link {
        let label = mrkdwn_line(&label, 200).replace('|', "¦");
        let text = format!("<{url}|{label}>");
        chars += text.chars().count();
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}));
    }
    let fallback = mrkdwn_line(&headline, FALLBACK_MAX);
    (json!({"text": fallback, "blocks": blocks}), chars)
}

/// Post `n` to the incoming webhook at `url`. One attempt.
pub async fn send(http: &reqwest::Client, url: &Secret, n: &Notice) -> Result<(), DispatchError> {
    send_to(http, url, n, None).await
}

/// [`send`], to `channel` (an owner's route) when given. Slack honours `channel` on legacy
/// incoming webhooks; a webhook made by a Slack app posts to its own channel whatever this
/// says (docs/owners.md).
pub async fn send_to(
    http: &reqwest::Client,
    url: &Secret,
    n: &Notice,
    channel: Option<&str>,
) -> Result<(), DispatchError> {
    let url = check_url("Slack", url.expose())?;
    let mut body = payload(n);
    if let (Some(c), serde_json::Value::Object(m)) = (channel, &mut body) {
        m.insert("channel".into(), serde_json::Value::String(c.to_string()));
    }
    let resp = http
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(|e| send_failed("Slack", &e))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.map_err(|_| reply_lost("Slack"))?;
    classify(status, &headers, &body)
}

/// Map Slack's reply to success or a classified failure.
pub fn classify(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> Result<(), DispatchError> {
    let code = status.as_u16();
    let reply = reply_snippet(body);
    if code == 200 {
        if String::from_utf8_lossy(body).trim() == "ok" {
            return Ok(());
        }
        return Err(DispatchError::permanent(format!(
            "Slack: HTTP 200 without 'ok' (not a Slack webhook?): {reply}"
        )));
    }
    if matches!(code, 408 | 425 | 429 | 500..=599) {
        return Err(super::http::status_error("Slack", status, headers, body));
    }
    let hint = match reply.as_str() {
        "invalid_payload" => "the message was not accepted as JSON Block Kit",
        "invalid_blocks" | "invalid_blocks_format" => "a block broke a Block Kit rule",
        "msg_blocks_too_long" => "the message is too long",
        "no_text" => "the message has no text",
        "no_service" | "no_service_id" | "no_team" => {
            "the webhook was removed or revoked; create a new one"
        }
        "invalid_token" => "the webhook's token is invalid; create a new one",
        "channel_not_found" => "the webhook's channel no longer exists",
        "channel_is_archived" => "the webhook's channel is archived",
        "action_prohibited" => "a workspace admin restriction blocks this webhook",
        "user_not_found" => "the webhook's user no longer exists",
        "posting_to_general_channel_denied" => "posting to #general is restricted",
        _ => "",
    };
    Err(DispatchError::permanent(if hint.is_empty() {
        format!("Slack: HTTP {code}: {reply}")
    } else {
        format!("Slack: HTTP {code} {reply}: {hint}")
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_never_splits_an_entity() {
        assert_eq!(mrkdwn("<!channel> & co", 100), "&lt;!channel&gt; &amp; co");
        let s = mrkdwn("ab<cd", 5);
        assert_eq!(s, "ab…");
        assert!(s.chars().count() <= 5);
        assert_eq!(mrkdwn("abc", 3), "abc");
    }

    #[test]
    fn statuses_classify() {
        let h = reqwest::header::HeaderMap::new();
        let s = |c: u16| reqwest::StatusCode::from_u16(c).expect("status");
        assert!(classify(s(200), &h, b"ok").is_ok());
        assert!(
            !classify(s(200), &h, b"<html>")
                .expect_err("x")
                .is_transient()
        );
        assert_eq!(
            classify(s(404), &h, b"no_service")
                .expect_err("gone")
                .to_string(),
            "Slack: HTTP 404 no_service: the webhook was removed or revoked; create a new one"
        );
        assert!(
            classify(s(500), &h, b"rollup_error")
                .expect_err("x")
                .is_transient()
        );
    }
}
