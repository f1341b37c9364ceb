//! Ticket bodies: Atlassian Document Format (Jira Cloud v3), wiki markup (Jira Data Center v2)
//! and plain text (ServiceNow). Every string is sanitized ([`crate::sanitize`]) and, for wiki
//! markup, escaped; long text is cut to the system's limit with a visible `…(truncated)`.

use serde_json::{Value, json};

use super::{Section, SectionBody, TicketContent};
use crate::domain::Severity;

/// The visible mark of a cut.
pub const TRUNCATED: &str = "…(truncated)";
/// Jira text fields (description, comment body): 32,767 characters. ADF counts its JSON.
pub const JIRA_TEXT_MAX: usize = 32_000;
/// Jira summary: 255 characters.
pub const JIRA_SUMMARY_MAX: usize = 255;
/// ServiceNow `short_description` (incident, change_request): 160 characters.
pub const SN_SHORT_MAX: usize = 160;
/// ServiceNow `description`, `close_notes`, one journal entry: 4,000 characters.
pub const SN_TEXT_MAX: usize = 4_000;

/// Jira's default priority scheme.
pub fn jira_priority(s: &Severity) -> &'static str {
    match s {
        Severity::Critical => "Highest",
        Severity::High => "High",
        Severity::Medium | Severity::Other(_) => "Medium",
        Severity::Low => "Low",
        Severity::Info => "Lowest",
    }
}

/// ServiceNow `(urgency, impact)`: 1 high, 2 medium, 3 low (priority follows from the matrix:
/// critical P1, high P2, medium P3, low P4, info P5).
pub fn sn_urgency_impact(s: &Severity) -> (&'static str, &'static str) {
    match s {
        Severity::Critical => ("1", "1"),
        Severity::High => ("2", "1"),
        Severity::Medium | Severity::Other(_) => ("2", "2"),
        Severity::Low => ("3", "2"),
        Severity::Info => ("3", "3"),
    }
}

/// One sanitized line, cut to `max` characters (mark included).
pub fn line(s: &str, max: usize) -> String {
    cut(&crate::sanitize::one_line(s), max)
}

/// Cut to at most `max` characters, the mark included.
pub fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(TRUNCATED.chars().count());
    let mut out: String = s.chars().take(keep).collect();
    out.push_str(TRUNCATED);
    out
}

/// A character budget shared by all text of one body.
struct Budget {
    left: usize,
    cut: bool,
}

impl Budget {
    fn new(n: usize) -> Budget {
        Budget {
            left: n,
            cut: false,
        }
    }

    /// The part of `s` that fits (marked when cut); None once the budget is spent.
    fn take(&mut self, s: &str) -> Option<String> {
        if self.cut {
            return None;
        }
        let n = s.chars().count();
        if n <= self.left {
            self.left -= n;
            return Some(s.to_string());
        }
        self.cut = true;
        let mut out: String = s.chars().take(self.left).collect();
        self.left = 0;
        out.push_str(TRUNCATED);
        Some(out)
    }
}

/// Try budgets from generous to small until the rendering fits `max` characters.
fn fitted<T>(max: usize, render: impl Fn(&mut Budget) -> T, len: impl Fn(&T) -> usize) -> T {
    let mut budget = max;
    loop {
        let out = render(&mut Budget::new(budget));
        if len(&out) <= max || budget < 64 {
            return out;
        }
        budget = budget * 3 / 4;
    }
}

fn clean(s: &str) -> String {
    crate::sanitize::text(s)
        .replace("\r\n", "\n")
        .replace('\r', "\n")
}

/// A code block's language tag: `[a-z0-9+#_-]`, at most 20 characters, else none.
pub fn code_language(s: &str) -> Option<String> {
    let l = s.trim().to_ascii_lowercase();
    let ok = !l.is_empty()
        && l.len() <= 20
        && l.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'#' | b'_' | b'-'));
    ok.then_some(l)
}

// ---------------------------------------------------------------- ADF (Jira Cloud, REST v3)

fn adf_text(s: &str) -> Option<Value> {
    (!s.is_empty()).then(|| json!({"type": "text", "text": s}))
}

/// A paragraph of one line's text (possibly empty content: allowed, unlike empty text).
fn adf_para_line(s: &str) -> Value {
    json!({"type": "paragraph", "content": adf_text(s).into_iter().collect::<Vec<_>>()})
}

/// Paragraphs from multi-line text: blank lines separate paragraphs, single newlines become
/// hard breaks. Empty lines never make empty text nodes.
fn adf_paragraphs(text: &str, b: &mut Budget, out: &mut Vec<Value>) {
    for para in text.split("\n\n") {
        let lines: Vec<&str> = para
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.trim().is_empty())
            .collect();
        if lines.is_empty() {
            continue;
        }
        let mut content = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            let Some(t) = b.take(l) else { break };
            if i > 0 {
                content.push(json!({"type": "hardBreak"}));
            }
            content.extend(adf_text(&t));
        }
        if !content.is_empty() {
            out.push(json!({"type": "paragraph", "content": content}));
        }
        if b.cut {
            return;
        }
    }
}

fn adf_section(s: &Section, b: &mut Budget, out: &mut Vec<Value>) {
    let heading = crate::sanitize::one_line(&s.heading);
    if let Some(h) = b.take(&heading)
        && !h.is_empty()
    {
        out.push(json!({"type": "heading", "attrs": {"level": 3}, "content": [{"type": "text", "text": h}]}));
    }
    match &s.body {
        SectionBody::Text(t) => adf_paragraphs(&clean(t), b, out),
        SectionBody::Facts(facts) => {
            let mut rows = Vec::new();
            for (k, v) in facts {
                let (Some(k), Some(v)) = (
                    b.take(&crate::sanitize::one_line(k)),
                    b.take(&crate::sanitize::one_line(v)),
                ) else {
                    break;
                };
                rows.push(json!({"type": "tableRow", "content": [
                    {"type": "tableHeader", "attrs": {}, "content": [adf_para_line(&k)]},
                    {"type": "tableCell", "attrs": {}, "content": [adf_para_line(&v)]},
                ]}));
            }
            if !rows.is_empty() {
                out.push(json!({"type": "table", "attrs": {"isNumberColumnEnabled": false, "layout": "default"}, "content": rows}));
            }
        }
        SectionBody::Bullets(items) => {
            let mut list = Vec::new();
            for it in items {
                let t = crate::sanitize::one_line(it);
                if t.is_empty() {
                    continue;
                }
                let Some(t) = b.take(&t) else { break };
                list.push(json!({"type": "listItem", "content": [adf_para_line(&t)]}));
            }
            if !list.is_empty() {
                out.push(json!({"type": "bulletList", "content": list}));
            }
        }
        SectionBody::Code { language, text } => {
            let code = clean(text);
            let code = code.trim_end_matches('\n');
            let Some(code) = b.take(code) else { return };
            let mut node = json!({"type": "codeBlock", "content": adf_text(&code).into_iter().collect::<Vec<_>>()});
            if let Some(l) = code_language(language) {
                node["attrs"] = json!({"language": l});
            }
            out.push(node);
        }
    }
}

/// The description of a Jira Cloud issue.
pub fn adf_description(c: &TicketContent) -> Value {
    fitted(
        JIRA_TEXT_MAX,
        |b| {
            let mut content = Vec::new();
            for s in &c.sections {
                adf_section(s, b, &mut content);
                if b.cut {
                    break;
                }
            }
            json!({"type": "doc", "version": 1, "content": content})
        },
        |v| v.to_string().chars().count(),
    )
}

/// A Jira Cloud comment body: the text's paragraphs, then the dedup marker.
pub fn adf_comment(text: &str, marker: &str) -> Value {
    fitted(
        JIRA_TEXT_MAX,
        |b| {
            let mut content = Vec::new();
            adf_paragraphs(&clean(text), b, &mut content);
            content.push(adf_para_line(marker));
            json!({"type": "doc", "version": 1, "content": content})
        },
        |v| v.to_string().chars().count(),
    )
}

// ------------------------------------------------------- wiki markup (Jira Data Center, v2)

/// Escape one line of untrusted text for Jira wiki markup: every markup character gets a
/// backslash, and a line that would start a heading or quote (`h1.`, `bq.`) is defused.
pub fn wiki_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' | '*' | '_' | '-' | '+' | '^' | '~' | '?' | '{' | '}' | '[' | ']' | '|' | '!'
            | '#' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    let t = out.trim_start();
    let b = t.as_bytes();
    let heading = b.len() >= 3 && b[0] == b'h' && (b'1'..=b'6').contains(&b[1]) && b[2] == b'.';
    if heading || t.starts_with("bq.") {
        let dot = out.find('.').unwrap_or(0);
        out.insert(dot, '\\');
    }
    out
}

/// Text for inside `{code}`: nothing in it may open or close a macro (`{code`, `{noformat`).
fn wiki_code_body(s: &str) -> String {
    break_markers(s, &["{code", "{noformat"])
}

/// `s` with a space after the first character of every occurrence (ASCII case ignored) of any
/// of `markers`, so that none of them reaches the tracker whole. One loop for every markup a
/// tracker would act on, so a fix to it holds for all of them.
fn break_markers(s: &str, markers: &[&str]) -> String {
    let lower = s.to_ascii_lowercase();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let Some(c) = s[i..].chars().next() else {
            break;
        };
        out.push(c);
        if markers.iter().any(|m| lower[i..].starts_with(m)) {
            out.push(' ');
        }
        i += c.len_utf8();
    }
    out
}

fn wiki_paragraphs(text: &str, b: &mut Budget, out: &mut String) {
    for l in text.lines() {
        if l.trim().is_empty() {
            out.push('\n');
            continue;
        }
        let Some(t) = b.take(l.trim_end()) else {
            return;
        };
        out.push_str(&wiki_escape(&t));
        out.push('\n');
        if b.cut {
            return;
        }
    }
}

fn wiki_section(s: &Section, b: &mut Budget, out: &mut String) {
    let heading = crate::sanitize::one_line(&s.heading);
    if let Some(h) = b.take(&heading)
        && !h.is_empty()
    {
        out.push_str("h3. ");
        out.push_str(&wiki_escape(&h));
        out.push('\n');
    }
    match &s.body {
        SectionBody::Text(t) => wiki_paragraphs(&clean(t), b, out),
        SectionBody::Facts(facts) => {
            for (k, v) in facts {
                let (Some(k), Some(v)) = (
                    b.take(&crate::sanitize::one_line(k)),
                    b.take(&crate::sanitize::one_line(v)),
                ) else {
                    break;
                };
                // A cell may not be empty, or the row collapses.
                let cell = |x: &str| {
                    if x.is_empty() {
                        " ".to_string()
                    } else {
                        wiki_escape(x)
                    }
                };
                out.push_str(&format!("||{}|{}|\n", cell(&k), cell(&v)));
            }
        }
        SectionBody::Bullets(items) => {
            for it in items {
                let t = crate::sanitize::one_line(it);
                if t.is_empty() {
                    continue;
                }
                let Some(t) = b.take(&t) else { break };
                out.push_str("* ");
                out.push_str(&wiki_escape(&t));
                out.push('\n');
            }
        }
        SectionBody::Code { language, text } => {
            let code = clean(text);
            let Some(code) = b.take(code.trim_end_matches('\n')) else {
                return;
            };
            match code_language(language) {
                Some(l) => out.push_str(&format!("{{code:{l}}}\n")),
                None => out.push_str("{code}\n"),
            }
            out.push_str(&wiki_code_body(&code));
            out.push_str("\n{code}\n");
        }
    }
    out.push('\n');
}

/// The description of a Jira Data Center issue.
pub fn wiki_description(c: &TicketContent) -> String {
    fitted(
        JIRA_TEXT_MAX,
        |b| {
            let mut out = String::new();
            for s in &c.sections {
                wiki_section(s, b, &mut out);
                if b.cut {
                    break;
                }
            }
            out.trim_end().to_string()
        },
        |s| s.chars().count(),
    )
}

/// A Jira Data Center comment: escaped text, then the dedup marker (escaped too).
pub fn wiki_comment(text: &str, marker: &str) -> String {
    fitted(
        JIRA_TEXT_MAX,
        |b| {
            let mut out = String::new();
            wiki_paragraphs(&clean(text), b, &mut out);
            format!("{}\n\n{}", out.trim_end(), wiki_escape(marker))
        },
        |s| s.chars().count(),
    )
}

// ----------------------------------------------------------------- plain text (ServiceNow)

/// ServiceNow journal fields render `[code]…[/code]` as HTML: untrusted text must not open it.
pub fn sn_defuse(s: &str) -> String {
    break_markers(s, &["[code]", "[/code]"])
}

fn plain_section(s: &Section, b: &mut Budget, out: &mut String) {
    let heading = crate::sanitize::one_line(&s.heading);
    if let Some(h) = b.take(&heading)
        && !h.is_empty()
    {
        out.push_str(&h);
        out.push('\n');
        out.push_str(&"-".repeat(h.chars().count().min(60)));
        out.push('\n');
    }
    match &s.body {
        SectionBody::Text(t) => {
            if let Some(t) = b.take(clean(t).trim()) {
                out.push_str(&t);
                out.push('\n');
            }
        }
        SectionBody::Facts(facts) => {
            for (k, v) in facts {
                let Some(row) = b.take(&format!(
                    "{}: {}",
                    crate::sanitize::one_line(k),
                    crate::sanitize::one_line(v)
                )) else {
                    break;
                };
                out.push_str(&row);
                out.push('\n');
            }
        }
        SectionBody::Bullets(items) => {
            for it in items {
                let t = crate::sanitize::one_line(it);
                if t.is_empty() {
                    continue;
                }
                let Some(t) = b.take(&t) else { break };
                out.push_str("- ");
                out.push_str(&t);
                out.push('\n');
            }
        }
        SectionBody::Code { text, .. } => {
            let code = clean(text);
            if let Some(code) = b.take(code.trim_end_matches('\n')) {
                for l in code.lines() {
                    out.push_str("    ");
                    out.push_str(l);
                    out.push('\n');
                }
            }
        }
    }
    out.push('\n');
}

/// A ServiceNow description.
pub fn plain_description(c: &TicketContent) -> String {
    fitted(
        SN_TEXT_MAX,
        |b| {
            let mut out = String::new();
            for s in &c.sections {
                plain_section(s, b, &mut out);
                if b.cut {
                    break;
                }
            }
            sn_defuse(out.trim_end())
        },
        |s| s.chars().count(),
    )
}

/// A ServiceNow work note or close note: the text, then the marker when given.
pub fn plain_note(text: &str, marker: Option<&str>) -> String {
    let tail = marker.map(|m| format!("\n\n{m}")).unwrap_or_default();
    let room = SN_TEXT_MAX.saturating_sub(tail.chars().count());
    let body = cut(clean(text).trim(), room);
    sn_defuse(&format!("{body}{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(sections: Vec<Section>) -> TicketContent {
        TicketContent {
            fingerprint: "sitrep-fp-1".into(),
            summary: "s".into(),
            severity: Severity::High,
            sections,
        }
    }

    #[test]
    fn wiki_escaping_defuses_markup() {
        assert_eq!(
            wiki_escape("*bold* [link|http://x] {color:red}"),
            "\\*bold\\* \\[link\\|http://x\\] \\{color:red\\}"
        );
        assert_eq!(wiki_escape("h1. Title"), "h1\\. Title");
        assert_eq!(wiki_escape("bq. quote"), "bq\\. quote");
        assert_eq!(
            wiki_code_body("a\n{code}\nh1. x\n{CODE:bash}"),
            "a\n{ code}\nh1. x\n{ CODE:bash}"
        );
        assert_eq!(sn_defuse("é[CODE]<b>[/Code]"), "é[ CODE]<b>[ /Code]");
    }

    #[test]
    fn budget_cuts_visibly() {
        let long = "x".repeat(10_000);
        let d = plain_description(&content(vec![Section {
            heading: "H".into(),
            body: SectionBody::Text(long),
        }]));
        assert!(d.chars().count() <= SN_TEXT_MAX);
        assert!(d.ends_with(TRUNCATED));
        assert_eq!(cut("abcdef", 100), "abcdef");
        assert_eq!(cut(&"y".repeat(20), 14).chars().count(), 14);
    }

    #[test]
    fn adf_has_no_empty_text() {
        let d = adf_description(&content(vec![
            Section {
                heading: "".into(),
                body: SectionBody::Text("\n\n  \n".into()),
            },
            Section {
                heading: "Facts".into(),
                body: SectionBody::Facts(vec![("k".into(), "".into())]),
            },
            Section {
                heading: "Code".into(),
                body: SectionBody::Code {
                    language: "x y".into(),
                    text: "".into(),
                },
            },
        ]));
        let s = d.to_string();
        assert!(!s.contains("\"text\":\"\""), "{s}");
        assert!(!s.contains("\"language\""), "{s}");
    }
}
