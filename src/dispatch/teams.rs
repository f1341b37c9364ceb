//! Microsoft Teams through a Workflows (Power Automate) "When a Teams webhook request is
//! received" trigger (docs/integrations.md §1.4). The legacy Office 365 connectors
//! (MessageCard) are retired; Workflows accept Adaptive Cards only.
//!
//! The body is `{"type": "message", "attachments": [{"contentType":
//! "application/vnd.microsoft.card.adaptive", "content": <AdaptiveCard 1.4>}]}` with a
//! TextBlock headline, the text, a FactSet and an `Action.OpenUrl` for the link.
//!
//! **A 202 Accepted (or 200) means the flow took the request, not that the card rendered**:
//! the flow posts it asynchronously and may still fail (an orphaned flow, a private channel).
//! The workflow URL carries a SAS signature (`sig=`): it is a [`Secret`], never shown.
//!
//! TextBlock text is Markdown in Teams: untrusted text is sanitized and its link syntax
//! (`](`) broken so vendor text cannot plant a clickable link; the card stays under
//! [`CARD_BUDGET`] bytes (Teams refuses cards around 28 KB).

use serde_json::{Value, json};

use super::DispatchError;
use super::notice::{Notice, check_url, reply_lost, send_failed, truncate_chars};
use crate::config::Secret;

pub const TITLE_MAX: usize = 200;
pub const TEXT_MAX: usize = 3000;
pub const FACTS_MAX: usize = 20;
pub const FACT_TITLE_MAX: usize = 100;
pub const FACT_VALUE_MAX: usize = 1000;
/// Serialized size the card is kept under.
pub const CARD_BUDGET: usize = 24_000;

/// Sanitized text for a TextBlock or fact, with Markdown link syntax defused.
pub fn card_text(s: &str, max: usize, one_line: bool) -> String {
    let clean = if one_line {
        crate::sanitize::one_line(s)
    } else {
        crate::sanitize::text(s).into_owned()
    };
    truncate_chars(&clean.replace("](", "] ("), max)
}

/// The Workflows envelope with the Adaptive Card for `n`.
pub fn payload(n: &Notice) -> Value {
    let mut text_max = TEXT_MAX;
    let mut value_max = FACT_VALUE_MAX;
    loop {
        let p = build(n, text_max, value_max);
        let size = serde_json::to_vec(&p)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size <= CARD_BUDGET || (text_max <= 100 && value_max <= 50) {
            return p;
        }
        text_max = (text_max / 2).max(100);
        value_max = (value_max / 2).max(50);
    }
}

fn build(n: &Notice, text_max: usize, value_max: usize) -> Value {
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": card_text(&n.headline(), TITLE_MAX, true),
        "weight": "Bolder",
        "size": "Medium",
        "wrap": true,
        "style": "heading",
    })];
    let text = card_text(&n.text, text_max, false);
    if !text.trim().is_empty() {
        body.push(json!({"type": "TextBlock", "text": text, "wrap": true}));
    }
    if !n.facts.is_empty() {
        let mut facts: Vec<Value> = n
            .facts
            .iter()
            .take(FACTS_MAX)
            .map(|(t, v)| {
                json!({
                    "title": card_text(t, FACT_TITLE_MAX, true),
                    "value": card_text(v, value_max, false),
                })
            })
            .collect();
        if n.facts.len() > FACTS_MAX {
            facts.push(
                json!({"title": "…", "value": format!("{} more", n.facts.len() - FACTS_MAX)}),
            );
        }
        body.push(json!({"type": "FactSet", "facts": facts}));
    }
    let mut content = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "msteams": {"width": "Full"},
    });
    if let Some((label, url)) = n.safe_link() {
        content["actions"] = json!([{
            "type": "Action.OpenUrl",
            "title": card_text(&label, 100, true),
            "url": url,
        }]);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": content,
        }],
    })
}

/// Post `n` to the Workflows trigger at `url`. One attempt. 202/200 = accepted by the flow
/// (which does not prove the card was rendered).
pub async fn send(http: &reqwest::Client, url: &Secret, n: &Notice) -> Result<(), DispatchError> {
    let url = check_url("Teams", url.expose())?;
    let resp = http
        .post(url)
        .json(&payload(n))
        .send()
        .await
        .map_err(|e| send_failed("Teams", &e))?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.map_err(|_| reply_lost("Teams"))?;
    match status.as_u16() {
        200 | 202 => Ok(()),
        _ => Err(super::http::status_error("Teams", status, &headers, &body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_links_are_defused() {
        assert_eq!(
            card_text("see [docs](https://evil.example)", 100, true),
            "see [docs] (https://evil.example)"
        );
    }
}
