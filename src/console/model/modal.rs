//! The console's editors: the filter / command prompt and the decision dialog (reason picker,
//! note in a textarea, optional expiry). They see keys before the panes do.

use ratatui_textarea::{Input, Key as TKey, TextArea};

use crate::config::keymap::{Key, KeyChord};
use crate::domain::{DismissReason, EpochMs};

/// A key as the textarea widget wants it.
pub fn textarea_input(k: &KeyChord) -> Input {
    let key = match k.key {
        Key::Char(c) => TKey::Char(c),
        Key::Enter => TKey::Enter,
        Key::Esc => TKey::Esc,
        Key::Tab | Key::BackTab => TKey::Tab,
        Key::Backspace => TKey::Backspace,
        Key::Delete => TKey::Delete,
        Key::Up => TKey::Up,
        Key::Down => TKey::Down,
        Key::Left => TKey::Left,
        Key::Right => TKey::Right,
        Key::Home => TKey::Home,
        Key::End => TKey::End,
        Key::PageUp => TKey::PageUp,
        Key::PageDown => TKey::PageDown,
        Key::F(n) => TKey::F(n),
    };
    Input {
        key,
        ctrl: k.ctrl,
        alt: k.alt,
        shift: false,
    }
}

/// Which prompt the bottom line holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    Filter,
    Command,
}

/// A one-line editor at the bottom of the screen.
#[derive(Debug, Clone)]
pub struct Prompt {
    pub kind: PromptKind,
    pub input: TextArea<'static>,
    /// The filter's parse error, live; or the command's error after Enter.
    pub error: Option<String>,
    /// What a proposed filter means (`:ask`), shown beside it until the text is edited.
    pub note: Option<String>,
}

impl Prompt {
    pub fn new(kind: PromptKind, initial: &str) -> Prompt {
        let mut input = TextArea::new(vec![initial.to_string()]);
        input.move_cursor(ratatui_textarea::CursorMove::End);
        let mut p = Prompt {
            kind,
            input,
            error: None,
            note: None,
        };
        p.revalidate();
        p
    }

    pub fn text(&self) -> String {
        self.input.lines().join(" ")
    }

    /// Re-parse the filter after every key, so its error shows while typing.
    pub fn revalidate(&mut self) {
        if self.kind == PromptKind::Filter {
            self.error = crate::triage::query::parse(&self.text())
                .err()
                .map(|e| e.to_string());
        }
    }
}

/// What the decision dialog records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionKind {
    Dismiss,
    Snooze,
    Resolve,
    Note,
    Approve,
    Reject,
}

impl DecisionKind {
    pub fn title(self) -> &'static str {
        match self {
            DecisionKind::Dismiss => "Dismiss",
            DecisionKind::Snooze => "Snooze",
            DecisionKind::Resolve => "Resolve",
            DecisionKind::Note => "Add a note",
            DecisionKind::Approve => "Approve the remediation",
            DecisionKind::Reject => "Reject the remediation",
        }
    }

    /// The reasons offered (empty: no picker).
    pub fn reasons(self) -> Vec<&'static str> {
        match self {
            DecisionKind::Dismiss => DismissReason::ALL.iter().map(|r| r.as_str()).collect(),
            DecisionKind::Resolve => vec!["fixed", "mitigated", "vendor_closed", "other"],
            DecisionKind::Snooze
            | DecisionKind::Note
            | DecisionKind::Approve
            | DecisionKind::Reject => Vec::new(),
        }
    }

    /// Whether the dialog has an expiry field, and whether it must be filled.
    pub fn until(self) -> Option<bool> {
        match self {
            DecisionKind::Dismiss => Some(false),
            DecisionKind::Snooze => Some(true),
            DecisionKind::Resolve
            | DecisionKind::Note
            | DecisionKind::Approve
            | DecisionKind::Reject => None,
        }
    }
}

/// The dialog's fields, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Reason,
    Note,
    Until,
}

/// A decision being written: reason, note, expiry.
#[derive(Debug, Clone)]
pub struct DecisionModal {
    pub kind: DecisionKind,
    /// Alert ids it applies to (the marked rows, or the selected one).
    pub targets: Vec<String>,
    pub reasons: Vec<&'static str>,
    pub reason: usize,
    pub note: TextArea<'static>,
    pub until: TextArea<'static>,
    pub field: Field,
    pub error: Option<String>,
}

impl DecisionModal {
    pub fn new(kind: DecisionKind, targets: Vec<String>) -> DecisionModal {
        let reasons = kind.reasons();
        let mut note = TextArea::default();
        note.set_placeholder_text("why (optional; ctrl-s saves)");
        let mut until = TextArea::default();
        until.set_placeholder_text(match kind.until() {
            Some(true) => "required: 3d, 12h, 2w or 2026-12-31",
            _ => "optional: 30d, 2w or 2026-12-31 (empty: no expiry)",
        });
        let field = if reasons.is_empty() {
            if kind == DecisionKind::Snooze {
                Field::Until
            } else {
                Field::Note
            }
        } else {
            Field::Reason
        };
        DecisionModal {
            kind,
            targets,
            reasons,
            reason: 0,
            note,
            until,
            field,
            error: None,
        }
    }

    pub fn fields(&self) -> Vec<Field> {
        let mut f = Vec::new();
        if !self.reasons.is_empty() {
            f.push(Field::Reason);
        }
        if self.kind == DecisionKind::Snooze {
            f.push(Field::Until);
            f.push(Field::Note);
            return f;
        }
        f.push(Field::Note);
        if self.kind.until().is_some() {
            f.push(Field::Until);
        }
        f
    }

    pub fn next_field(&mut self, back: bool) {
        let f = self.fields();
        let i = f.iter().position(|x| *x == self.field).unwrap_or(0);
        let n = f.len();
        self.field = f[if back { (i + n - 1) % n } else { (i + 1) % n }];
    }

    pub fn note_text(&self) -> Option<String> {
        let t = self.note.lines().join("\n").trim().to_string();
        (!t.is_empty()).then_some(t)
    }

    /// The expiry as epoch ms (None: none given). Errors say what is accepted.
    pub fn until_ms(&self, now_ms: EpochMs) -> Result<Option<EpochMs>, String> {
        let t = self.until.lines().join("").trim().to_string();
        if t.is_empty() {
            return if self.kind.until() == Some(true) {
                Err("a snooze needs an end: 3d, 12h, 2w or a date like 2026-12-31".into())
            } else {
                Ok(None)
            };
        }
        parse_until(&t, now_ms).map(Some)
    }
}

/// `3d`, `12h`, `2w`, `90m` from now, or a date / RFC 3339 time; never in the past.
pub fn parse_until(t: &str, now_ms: EpochMs) -> Result<EpochMs, String> {
    let t = t.trim();
    let at = if let Some(w) = t
        .strip_suffix('w')
        .and_then(|n| n.trim().parse::<i64>().ok())
    {
        now_ms + w.saturating_mul(7 * 86_400_000)
    } else if let Some(d) = t
        .strip_suffix('d')
        .and_then(|n| n.trim().parse::<i64>().ok())
    {
        now_ms + d.saturating_mul(86_400_000)
    } else if let Some(d) = crate::config::sources::parse_duration(t) {
        now_ms + d.as_millis() as i64
    } else if let Ok(date) = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        date.and_hms_opt(0, 0, 0)
            .map(|dt| dt.and_utc().timestamp_millis())
            .ok_or_else(|| format!("'{t}' is not a date"))?
    } else if let Some(ms) = crate::sources::json::parse_time(t) {
        ms
    } else {
        return Err(format!(
            "cannot read '{}' as a time: use 3d, 12h, 2w or a date like 2026-12-31",
            crate::sanitize::one_line(t)
        ));
    };
    if at <= now_ms {
        return Err(format!(
            "'{}' is not in the future",
            crate::sanitize::one_line(t)
        ));
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_parses_relative_and_absolute_times() {
        let now = 1_700_000_000_000;
        assert_eq!(parse_until("3d", now).unwrap(), now + 3 * 86_400_000);
        assert_eq!(parse_until("2w", now).unwrap(), now + 14 * 86_400_000);
        assert_eq!(parse_until("12h", now).unwrap(), now + 12 * 3_600_000);
        assert_eq!(parse_until("2030-01-01", now).unwrap(), 1_893_456_000_000);
        assert!(
            parse_until("2001-01-01", now)
                .unwrap_err()
                .contains("not in the future")
        );
        assert!(
            parse_until("soon", now)
                .unwrap_err()
                .contains("cannot read 'soon'")
        );
    }

    #[test]
    fn snooze_requires_an_end_dismiss_does_not() {
        let m = DecisionModal::new(DecisionKind::Snooze, vec!["a".into()]);
        assert!(m.until_ms(0).is_err());
        assert_eq!(m.field, Field::Until);
        let m = DecisionModal::new(DecisionKind::Dismiss, vec!["a".into()]);
        assert_eq!(m.until_ms(0), Ok(None));
        assert_eq!(m.fields(), vec![Field::Reason, Field::Note, Field::Until]);
    }
}
