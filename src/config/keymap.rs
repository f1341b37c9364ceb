//! The console's keymap: key chords (`"ctrl-d"`, `"G"`, `"space"`) bound to named actions.
//!
//! Defaults ship in the binary ([`DEFAULT_KEYS`]); the `[keys]` table of the config file
//! overrides single chords (`"x" = "none"` unbinds one). The help screen is generated from the
//! same table. No terminal library here: the console converts its key events
//! into [`KeyChord`]s.

use std::collections::BTreeMap;
use std::fmt;

/// Everything a key can be bound to. Names are the config file's (`snake_case`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Quit,
    MoveDown,
    MoveUp,
    PageDown,
    PageUp,
    HalfPageDown,
    HalfPageUp,
    Top,
    Bottom,
    FocusNext,
    FocusPrev,
    OpenDetail,
    Back,
    NextTab,
    PrevTab,
    ToggleMark,
    MarkAllVisible,
    ClearMarks,
    Filter,
    ClearFilter,
    /// Show the alerts the vendor closed (filter `vstate:closed`); again to go back.
    ShowClosed,
    Command,
    Help,
    Acknowledge,
    InProgress,
    Resolve,
    Dismiss,
    Snooze,
    AddNote,
    Reopen,
    SyncNow,
    CycleSort,
    Approve,
    Reject,
    OpenTicket,
    Notify,
    PullRequest,
    /// Team mode: take the selected alert.
    Claim,
    /// Team mode: take the best unclaimed alert.
    NextUnclaimed,
}

impl Action {
    /// Every action, in the order the help screen lists them.
    pub const ALL: [Action; 39] = [
        Action::MoveDown,
        Action::MoveUp,
        Action::HalfPageDown,
        Action::HalfPageUp,
        Action::PageDown,
        Action::PageUp,
        Action::Top,
        Action::Bottom,
        Action::FocusNext,
        Action::FocusPrev,
        Action::OpenDetail,
        Action::Back,
        Action::NextTab,
        Action::PrevTab,
        Action::ToggleMark,
        Action::MarkAllVisible,
        Action::ClearMarks,
        Action::Filter,
        Action::ClearFilter,
        Action::ShowClosed,
        Action::Command,
        Action::CycleSort,
        Action::Acknowledge,
        Action::InProgress,
        Action::Resolve,
        Action::Dismiss,
        Action::Snooze,
        Action::AddNote,
        Action::Reopen,
        Action::Approve,
        Action::Reject,
        Action::OpenTicket,
        Action::Notify,
        Action::PullRequest,
        Action::Claim,
        Action::NextUnclaimed,
        Action::SyncNow,
        Action::Help,
        Action::Quit,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::Quit => "quit",
            Action::MoveDown => "move_down",
            Action::MoveUp => "move_up",
            Action::PageDown => "page_down",
            Action::PageUp => "page_up",
            Action::HalfPageDown => "half_page_down",
            Action::HalfPageUp => "half_page_up",
            Action::Top => "top",
            Action::Bottom => "bottom",
            Action::FocusNext => "focus_next",
            Action::FocusPrev => "focus_prev",
            Action::OpenDetail => "open_detail",
            Action::Back => "back",
            Action::NextTab => "next_tab",
            Action::PrevTab => "prev_tab",
            Action::ToggleMark => "toggle_mark",
            Action::MarkAllVisible => "mark_all_visible",
            Action::ClearMarks => "clear_marks",
            Action::Filter => "filter",
            Action::ClearFilter => "clear_filter",
            Action::ShowClosed => "show_closed",
            Action::Command => "command",
            Action::Help => "help",
            Action::Acknowledge => "acknowledge",
            Action::InProgress => "in_progress",
            Action::Resolve => "resolve",
            Action::Dismiss => "dismiss",
            Action::Snooze => "snooze",
            Action::AddNote => "add_note",
            Action::Reopen => "reopen",
            Action::SyncNow => "sync_now",
            Action::CycleSort => "cycle_sort",
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::OpenTicket => "open_ticket",
            Action::Notify => "notify",
            Action::PullRequest => "pull_request",
            Action::Claim => "claim",
            Action::NextUnclaimed => "next_unclaimed",
        }
    }

    /// One line for the help screen.
    pub fn describe(self) -> &'static str {
        match self {
            Action::Quit => "quit (the terminal is restored)",
            Action::MoveDown => "next row / scroll down",
            Action::MoveUp => "previous row / scroll up",
            Action::PageDown => "one page down",
            Action::PageUp => "one page up",
            Action::HalfPageDown => "half a page down",
            Action::HalfPageUp => "half a page up",
            Action::Top => "first row",
            Action::Bottom => "last row",
            Action::FocusNext => "focus the next pane",
            Action::FocusPrev => "focus the previous pane",
            Action::OpenDetail => "open the selected alert's detail (full width)",
            Action::Back => "close the detail, prompt or dialog",
            Action::NextTab => "next detail tab",
            Action::PrevTab => "previous detail tab",
            Action::ToggleMark => "mark / unmark the row for bulk actions",
            Action::MarkAllVisible => "mark every row on screen",
            Action::ClearMarks => "clear all marks",
            Action::Filter => "filter the queue (filter language)",
            Action::ClearFilter => "clear the filter",
            Action::ShowClosed => "alerts the vendor closed (again: back)",
            Action::Command => "command line (:sort, :filter, :ask, :closed, :sync, :theme, :q)",
            Action::Help => "this help",
            Action::Acknowledge => "acknowledge the selected or marked alerts",
            Action::InProgress => "set in progress",
            Action::Resolve => "resolve, with a reason",
            Action::Dismiss => "dismiss: reason, note, optional expiry",
            Action::Snooze => "snooze until a date, with a note",
            Action::AddNote => "add a note",
            Action::Reopen => "reopen (back to new)",
            Action::SyncNow => "sync every source now",
            Action::CycleSort => "cycle the queue order",
            Action::Approve => "approve the fix (four-eyes: 1st = request)",
            Action::Reject => "reject the fix, with a note",
            Action::OpenTicket => "open or link a Jira/ServiceNow ticket",
            Action::Notify => "send to Slack / Teams / webhooks",
            Action::PullRequest => "push the approved fix as a pull request",
            Action::Claim => "team: claim the selected alert (again: release it)",
            Action::NextUnclaimed => "team: take the best unclaimed alert",
        }
    }

    pub fn parse(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A key without modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Char(char),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Delete,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
    F(u8),
}

/// A key with its modifiers. Letters carry their case, so `G` needs no `shift-`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyChord {
    pub key: Key,
    pub ctrl: bool,
    pub alt: bool,
}

impl KeyChord {
    pub fn plain(key: Key) -> KeyChord {
        KeyChord {
            key,
            ctrl: false,
            alt: false,
        }
    }

    pub fn ctrl(c: char) -> KeyChord {
        KeyChord {
            key: Key::Char(c),
            ctrl: true,
            alt: false,
        }
    }

    /// Parse `"ctrl-d"`, `"alt-x"`, `"G"`, `"space"`, `"pagedown"`, `"f5"`, `"?"`.
    pub fn parse(text: &str) -> Result<KeyChord, String> {
        let mut ctrl = false;
        let mut alt = false;
        let mut shift = false;
        let mut rest = text;
        loop {
            let lower = rest.to_ascii_lowercase();
            if rest.len() > 1 && lower.starts_with("ctrl-") {
                ctrl = true;
                rest = &rest[5..];
            } else if rest.len() > 1 && lower.starts_with("alt-") {
                alt = true;
                rest = &rest[4..];
            } else if rest.len() > 1 && lower.starts_with("shift-") {
                shift = true;
                rest = &rest[6..];
            } else {
                break;
            }
        }
        let mut chars = rest.chars();
        let key = match (chars.next(), chars.next()) {
            (Some(c), None) => {
                let c = if shift { c.to_ascii_uppercase() } else { c };
                // Terminals report ctrl-letters lower-case.
                Key::Char(if ctrl { c.to_ascii_lowercase() } else { c })
            }
            _ => match rest.to_ascii_lowercase().as_str() {
                "space" => Key::Char(' '),
                "enter" | "return" => Key::Enter,
                "esc" | "escape" => Key::Esc,
                "tab" if shift => Key::BackTab,
                "tab" => Key::Tab,
                "backtab" => Key::BackTab,
                "backspace" => Key::Backspace,
                "delete" | "del" => Key::Delete,
                "up" => Key::Up,
                "down" => Key::Down,
                "left" => Key::Left,
                "right" => Key::Right,
                "home" => Key::Home,
                "end" => Key::End,
                "pageup" | "pgup" => Key::PageUp,
                "pagedown" | "pgdn" => Key::PageDown,
                f if f.starts_with('f') => match f[1..].parse::<u8>() {
                    Ok(n) if (1..=12).contains(&n) => Key::F(n),
                    _ => return Err(format!("unknown key '{text}'")),
                },
                _ => return Err(format!("unknown key '{text}'")),
            },
        };
        Ok(KeyChord { key, ctrl, alt })
    }
}

impl fmt::Display for KeyChord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        match self.key {
            Key::Char(' ') => f.write_str("space"),
            Key::Char(c) => write!(f, "{c}"),
            Key::Enter => f.write_str("enter"),
            Key::Esc => f.write_str("esc"),
            Key::Tab => f.write_str("tab"),
            Key::BackTab => f.write_str("shift-tab"),
            Key::Backspace => f.write_str("backspace"),
            Key::Delete => f.write_str("delete"),
            Key::Up => f.write_str("up"),
            Key::Down => f.write_str("down"),
            Key::Left => f.write_str("left"),
            Key::Right => f.write_str("right"),
            Key::Home => f.write_str("home"),
            Key::End => f.write_str("end"),
            Key::PageUp => f.write_str("pageup"),
            Key::PageDown => f.write_str("pagedown"),
            Key::F(n) => write!(f, "f{n}"),
        }
    }
}

/// The defaults shipped in the binary: chord → action name.
pub const DEFAULT_KEYS: &[(&str, &str)] = &[
    ("j", "move_down"),
    ("down", "move_down"),
    ("k", "move_up"),
    ("up", "move_up"),
    ("ctrl-d", "half_page_down"),
    ("ctrl-u", "half_page_up"),
    ("pagedown", "page_down"),
    ("ctrl-f", "page_down"),
    ("pageup", "page_up"),
    ("ctrl-b", "page_up"),
    ("g", "top"),
    ("home", "top"),
    ("G", "bottom"),
    ("end", "bottom"),
    ("tab", "focus_next"),
    ("backtab", "focus_prev"),
    ("enter", "open_detail"),
    ("esc", "back"),
    ("l", "next_tab"),
    ("right", "next_tab"),
    ("]", "next_tab"),
    ("h", "prev_tab"),
    ("left", "prev_tab"),
    ("[", "prev_tab"),
    ("space", "toggle_mark"),
    ("V", "mark_all_visible"),
    ("U", "clear_marks"),
    ("/", "filter"),
    ("ctrl-l", "clear_filter"),
    ("C", "show_closed"),
    (":", "command"),
    ("o", "cycle_sort"),
    ("a", "acknowledge"),
    ("p", "in_progress"),
    ("r", "resolve"),
    ("d", "dismiss"),
    ("z", "snooze"),
    ("i", "add_note"),
    ("c", "claim"),
    ("n", "next_unclaimed"),
    ("N", "reopen"),
    ("A", "approve"),
    ("X", "reject"),
    ("t", "open_ticket"),
    ("M", "notify"),
    ("P", "pull_request"),
    ("s", "sync_now"),
    ("?", "help"),
    ("q", "quit"),
    ("ctrl-c", "quit"),
];

/// Chord → action, after the user's overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    map: BTreeMap<KeyChord, Action>,
}

impl Default for Keymap {
    fn default() -> Self {
        let mut map = BTreeMap::new();
        for (k, a) in DEFAULT_KEYS {
            if let (Ok(k), Some(a)) = (KeyChord::parse(k), Action::parse(a)) {
                map.insert(k, a);
            }
        }
        Keymap { map }
    }
}

impl Keymap {
    /// The defaults with `overrides` (chord text → action name or `"none"`) applied.
    /// Errors name the offending entry: `[keys] "ctrl-t": unknown action 'open_tiket'`.
    pub fn with_overrides<'a>(
        overrides: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Keymap, (String, String)> {
        let mut km = Keymap::default();
        for (chord, action) in overrides {
            let key = format!("[keys] \"{}\"", crate::sanitize::one_line(chord));
            let k = KeyChord::parse(chord).map_err(|e| (key.clone(), e))?;
            if action == "none" || action.is_empty() {
                km.map.remove(&k);
                continue;
            }
            let a = Action::parse(action).ok_or_else(|| {
                (
                    key.clone(),
                    format!(
                        "unknown action '{}'; see docs/keys.md for the list",
                        crate::sanitize::one_line(action)
                    ),
                )
            })?;
            km.map.insert(k, a);
        }
        Ok(km)
    }

    pub fn action(&self, chord: &KeyChord) -> Option<Action> {
        self.map.get(chord).copied()
    }

    /// Every action with the chords bound to it, in help order (unbound actions included).
    pub fn bindings(&self) -> Vec<(Action, Vec<KeyChord>)> {
        Action::ALL
            .into_iter()
            .map(|a| {
                let keys = self
                    .map
                    .iter()
                    .filter(|(_, v)| **v == a)
                    .map(|(k, _)| *k)
                    .collect();
                (a, keys)
            })
            .collect()
    }

    /// The first chord bound to `a`, for hints ("press ? for help").
    pub fn key_for(&self, a: Action) -> Option<KeyChord> {
        self.map.iter().find(|(_, v)| **v == a).map(|(k, _)| *k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_parses_and_every_action_has_a_key() {
        for (k, a) in DEFAULT_KEYS {
            KeyChord::parse(k).unwrap_or_else(|e| panic!("{k}: {e}"));
            assert!(Action::parse(a).is_some(), "{a}");
        }
        let km = Keymap::default();
        for (a, keys) in km.bindings() {
            assert!(!keys.is_empty(), "{a} has no default key");
        }
    }

    #[test]
    fn chords_parse_and_print() {
        let c = KeyChord::parse("ctrl-D").unwrap();
        assert_eq!(c, KeyChord::ctrl('d'));
        assert_eq!(c.to_string(), "ctrl-d");
        assert_eq!(KeyChord::parse("G").unwrap().key, Key::Char('G'));
        assert_eq!(KeyChord::parse("shift-g").unwrap().key, Key::Char('G'));
        assert_eq!(KeyChord::parse("space").unwrap().key, Key::Char(' '));
        assert_eq!(KeyChord::parse("shift-tab").unwrap().key, Key::BackTab);
        assert_eq!(KeyChord::parse("f5").unwrap().key, Key::F(5));
        assert_eq!(KeyChord::parse("-").unwrap().key, Key::Char('-'));
        assert!(KeyChord::parse("hyper-x").is_err());
        assert!(KeyChord::parse("f13").is_err());
    }

    #[test]
    fn overrides_rebind_unbind_and_name_bad_entries() {
        let km = Keymap::with_overrides([("x", "dismiss"), ("q", "none")]).unwrap();
        assert_eq!(
            km.action(&KeyChord::plain(Key::Char('x'))),
            Some(Action::Dismiss)
        );
        assert_eq!(km.action(&KeyChord::plain(Key::Char('q'))), None);
        assert_eq!(km.action(&KeyChord::ctrl('c')), Some(Action::Quit));
        let e = Keymap::with_overrides([("ctrl-t", "open_tiket")]).unwrap_err();
        assert_eq!(e.0, "[keys] \"ctrl-t\"");
        assert!(e.1.contains("unknown action 'open_tiket'"), "{}", e.1);
        let e = Keymap::with_overrides([("meta-x", "quit")]).unwrap_err();
        assert!(e.1.contains("unknown key 'meta-x'"), "{}", e.1);
    }
}
