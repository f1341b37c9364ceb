//! One notification, in a destination-neutral shape: Slack ([`super::slack`]), Teams
//! ([`super::teams`]) and signed webhooks ([`super::webhook`]) each render it their own way.
//!
//! Every string in a [`Notice`] may come from a vendor, an LLM or a ticket system: renderers
//! pass it through [`cut`] / [`cut_line`] (sanitized, then cut to the destination's limit with a
//! visible `…`) and never send it raw.

use crate::domain::Severity;

// The config validates `[notify] events` against these, so they live there.
pub use crate::config::notify::EVENTS;

/// One notification to one destination.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Notice {
    /// Stable per (decision, destination): the Standard Webhooks `webhook-id`, the same on
    /// every retry so a receiver can drop duplicates.
    pub id: String,
    /// One of [`EVENTS`] (not enforced here: the config validates what it subscribes to).
    pub event: String,
    pub title: String,
    pub severity: Option<Severity>,
    /// Label/value pairs (Slack section fields, a Teams FactSet).
    pub facts: Vec<(String, String)>,
    /// Body text (plain; renderers escape it for their markup).
    pub text: String,
    /// (label, url): a Slack `<url|label>` link, a Teams `Action.OpenUrl`.
    pub link: Option<(String, String)>,
    /// The webhook's JSON payload (the `data` of the event). Strings in it are sanitized
    /// before sending.
    pub data: serde_json::Value,
}

impl Notice {
    /// `"CRITICAL · title"` (or just the title), sanitized to one line, uncut.
    pub fn headline(&self) -> String {
        let title = crate::sanitize::one_line(&self.title);
        match &self.severity {
            Some(s) => format!(
                "{} · {title}",
                crate::sanitize::one_line(s.as_str()).to_uppercase()
            ),
            None => title,
        }
    }

    /// The link, if its URL is one a chat client may open (http or https, no spaces or
    /// controls), with a sanitized one-line label.
    pub fn safe_link(&self) -> Option<(String, String)> {
        let (label, url) = self.link.as_ref()?;
        let url = url.trim();
        let ok_scheme = url.starts_with("https://") || url.starts_with("http://");
        if !ok_scheme
            || url.len() > 2000
            || url
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '|' | '"'))
            || crate::sanitize::is_suspicious_text(url)
        {
            return None;
        }
        let label = crate::sanitize::one_line(label);
        let label = if label.is_empty() {
            url.to_string()
        } else {
            label
        };
        Some((label, url.to_string()))
    }
}

/// Sanitize `s` (newlines and tabs kept) and cut it to at most `max` characters, ending a cut
/// with `…`. Limits are in characters (Unicode scalar values), as Slack and Teams count them.
pub fn cut(s: &str, max: usize) -> String {
    truncate_chars(&crate::sanitize::text(s), max)
}

/// [`cut`] for single-line fields (headers, fact labels and values).
pub fn cut_line(s: &str, max: usize) -> String {
    truncate_chars(&crate::sanitize::one_line(s), max)
}

/// Cut already-clean text to `max` characters with a trailing `…` when anything was dropped.
pub fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Error text that names the destination's reply without the URL (which holds a token):
/// sanitized, one line, short.
pub(crate) fn reply_snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    let t = crate::sanitize::one_line(&text);
    if t.is_empty() {
        "(empty body)".into()
    } else {
        truncate_chars(&t, 120)
    }
}

/// A request that got no usable reply. Unless the connection was never made, the destination
/// may have acted on it: the message says so (Slack and Teams have no dedup; webhooks do).
pub(crate) fn send_failed(what: &str, e: &reqwest::Error) -> super::DispatchError {
    match super::http::send_error(what, e) {
        super::DispatchError::Transient {
            detail,
            retry_after,
        } if !e.is_connect() => super::DispatchError::Transient {
            detail: format!("{detail} (it may have been delivered)"),
            retry_after,
        },
        other => other,
    }
}

/// The reply's body broke after the status arrived: the destination acted on the request.
pub(crate) fn reply_lost(what: &str) -> super::DispatchError {
    super::DispatchError::transient(format!(
        "{what}: the response was lost (it may have been delivered)"
    ))
}

/// Refuse a URL that is neither https nor plain http to loopback, without echoing it.
pub(crate) fn check_url(what: &str, url: &str) -> Result<reqwest::Url, super::DispatchError> {
    let parsed = reqwest::Url::parse(url.trim()).map_err(|_| {
        super::DispatchError::permanent(format!("{what}: the configured URL is not a valid URL"))
    })?;
    let loopback = parsed.host_str().is_some_and(|h| {
        h == "localhost"
            || h.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback => Ok(parsed),
        _ => Err(super::DispatchError::permanent(format!(
            "{what}: the configured URL must be https:// (plain http only for loopback)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_marks_what_it_drops() {
        assert_eq!(truncate_chars("abcdef", 6), "abcdef");
        assert_eq!(truncate_chars("abcdefg", 6), "abcde…");
        assert_eq!(truncate_chars("日本語です", 3).chars().count(), 3);
        assert_eq!(cut_line("a\n\x1b[31mb\x1b[0m\tc", 10), "a b c");
        assert_eq!(cut("x\u{202E}y\nz", 10), "xy\nz");
    }

    #[test]
    fn only_web_links_survive() {
        let mut n = Notice {
            id: "msg_1".into(),
            event: "ticket.created".into(),
            title: "t".into(),
            severity: Some(Severity::High),
            facts: vec![],
            text: String::new(),
            link: Some(("SEC-1".into(), "https://jira.example/browse/SEC-1".into())),
            data: serde_json::Value::Null,
        };
        assert_eq!(
            n.safe_link(),
            Some(("SEC-1".into(), "https://jira.example/browse/SEC-1".into()))
        );
        n.link = Some(("x".into(), "javascript:alert(1)".into()));
        assert_eq!(n.safe_link(), None);
        n.link = Some(("x".into(), "https://a.example/|<!channel>".into()));
        assert_eq!(n.safe_link(), None);
        assert_eq!(n.headline(), "HIGH · t");
    }

    #[test]
    fn urls_must_be_https_or_loopback() {
        assert!(check_url("Slack", "https://hooks.slack.com/services/T/B/x").is_ok());
        assert!(check_url("Slack", "http://127.0.0.1:9/x").is_ok());
        let e = check_url("Slack", "http://hooks.example/services/T/B/secret-token")
            .expect_err("plain http")
            .to_string();
        assert!(!e.contains("secret-token"), "{e}");
        assert!(check_url("Slack", "not a url secret-token").is_err());
    }
}
