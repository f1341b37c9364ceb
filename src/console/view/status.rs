//! The status bar (sources, online state, counts, filter) and the bottom line (prompt, message
//! or key hints).

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::style::role;
use crate::config::keymap::Action;
use crate::config::theme::Role;
use crate::console::model::{PromptKind, State};
use crate::domain::EpochMs;
use crate::present::age;
use crate::sanitize::{fit, one_line, width};
use crate::sources::sync::SourceStatus;

fn source_span(s: &State, name: &str, st: &SourceStatus) -> Span<'static> {
    let t = &s.theme;
    let name = one_line(name);
    match st {
        SourceStatus::Idle { last_success, .. } => {
            let when = last_success
                .map(|l| format!(" {}", age(s.now_ms, l)))
                .unwrap_or_default();
            Span::styled(format!("{name} ✓{when}"), role(t, Role::Ok))
        }
        SourceStatus::Syncing { pages, .. } => Span::styled(
            if *pages == 0 {
                format!("{name} ⟳")
            } else {
                format!("{name} ⟳ p{pages}")
            },
            role(t, Role::Accent),
        ),
        SourceStatus::Failed { reason, .. } => Span::styled(
            format!("{name} ✗ {}", fit(&one_line(reason), 32)),
            role(t, Role::Error),
        ),
        SourceStatus::Standby { why } => Span::styled(
            format!("{name} ⇄ {}", fit(&one_line(why), 32)),
            role(t, Role::Muted),
        ),
    }
}

/// When the least recently fully reconciled source last read everything: an incremental run
/// cannot see every change (closures of old alerts, on some vendors), so this bounds how stale
/// the queue can be. None while no source has reported yet.
fn oldest_full_run(s: &State) -> Option<Span<'static>> {
    let reported: Vec<Option<EpochMs>> = s
        .sources
        .iter()
        .filter_map(|(_, st)| match st {
            SourceStatus::Idle { last_full, .. } | SourceStatus::Failed { last_full, .. } => {
                Some(*last_full)
            }
            SourceStatus::Syncing { .. } | SourceStatus::Standby { .. } => None,
        })
        .collect();
    if reported.is_empty() {
        return None;
    }
    let oldest: Option<EpochMs> = reported
        .iter()
        .copied()
        .collect::<Option<Vec<_>>>()
        .and_then(|v| v.into_iter().min());
    Some(match oldest {
        Some(t) => Span::styled(
            format!(" full {} ago ", age(s.now_ms, t)),
            role(&s.theme, Role::Muted),
        ),
        None => Span::styled(" no full sync yet ", role(&s.theme, Role::Warn)),
    })
}

pub fn draw_status(f: &mut Frame<'_>, area: Rect, s: &State) {
    if area.height == 0 {
        return;
    }
    let t = &s.theme;
    let bar = role(t, Role::StatusBar);
    // Right side: online state, counts, filter.
    let mut right = Vec::new();
    if !s.filter_text.is_empty() {
        right.push(Span::styled(
            format!(" /{} ", fit(&one_line(&s.filter_text), 30)),
            role(t, Role::Accent),
        ));
    }
    right.push(Span::raw(format!(
        " {} ",
        if s.loaded {
            format!("{}/{}", (s.selected + 1).min(s.total), s.total_text())
        } else {
            "…".into()
        }
    )));
    if s.closed_at_vendor > 0 {
        // Out of the queue without anyone here deciding: say so, and where to look.
        let key = s
            .keymap
            .key_for(Action::ShowClosed)
            .map(|k| format!(" ({k})"))
            .unwrap_or_default();
        right.push(Span::styled(
            format!(
                " {} closed at the vendor since you last looked{key} ",
                s.closed_at_vendor
            ),
            role(t, Role::Changed),
        ));
    }
    if !s.marked.is_empty() {
        right.push(Span::styled(
            format!(" {} marked ", s.marked.len()),
            role(t, Role::Marked),
        ));
    }
    if s.outbox.failed > 0 {
        right.push(Span::styled(
            format!(" outbox ✗{} ", s.outbox.failed),
            role(t, Role::Error),
        ));
    }
    if s.outbox.pending > 0 {
        right.push(Span::styled(
            format!(" outbox {} ", s.outbox.pending),
            role(
                t,
                if s.outbox.retrying > 0 {
                    Role::Warn
                } else {
                    Role::Accent
                },
            ),
        ));
    }
    if let Some(full) = oldest_full_run(s) {
        right.push(full);
    }
    if let Some(team) = &s.team {
        right.push(if team.live {
            Span::styled(" team live ", role(t, Role::Ok))
        } else {
            // The analyst must know the queue may be stale and decisions wait to be sent.
            Span::styled(
                " team store unreachable: showing the last data ",
                role(t, Role::Error),
            )
        });
    }
    right.push(match s.online() {
        Some(true) => Span::styled(" online ", role(t, Role::Ok)),
        Some(false) => Span::styled(" offline ", role(t, Role::Error)),
        // Team mode: teammates' sitreps refresh the sources; this one pulls.
        None if s.team_mode => {
            Span::styled(" sources refreshed by the team ", role(t, Role::Muted))
        }
        None => Span::styled(" cached (no sources) ", role(t, Role::Muted)),
    });
    let right_w: usize = right.iter().map(|s| width(&s.content)).sum();
    // Left side: the label and each source's state, as many as fit.
    let mut left = vec![Span::styled(
        format!(" sitrep {} ", one_line(&s.label)),
        role(t, Role::Title),
    )];
    let mut used = width(&left[0].content);
    let budget = (area.width as usize).saturating_sub(right_w + 1);
    for (i, (name, st)) in s.sources.iter().enumerate() {
        let sp = source_span(s, name, st);
        let w = width(&sp.content) + 2;
        if used + w > budget {
            let rest = s.sources.len() - i;
            let more = format!(" +{rest}");
            if used + more.len() <= budget {
                used += more.len();
                left.push(Span::styled(more, role(t, Role::Muted)));
            }
            break;
        }
        left.push(Span::raw("  "));
        left.push(sp);
        used += w;
    }
    let pad = (area.width as usize).saturating_sub(used + right_w);
    left.push(Span::raw(" ".repeat(pad)));
    left.extend(right);
    f.render_widget(Paragraph::new(Line::from(left)).style(bar), area);
}

pub fn draw_bottom(f: &mut Frame<'_>, area: Rect, s: &State) {
    if area.height == 0 {
        return;
    }
    let t = &s.theme;
    if let Some(p) = &s.prompt {
        let lead = match p.kind {
            PromptKind::Filter => "/",
            PromptKind::Command => ":",
        };
        let text = one_line(&p.text());
        let cursor = p.input.cursor().1;
        let mut spans = vec![
            Span::styled(lead, role(t, Role::Prompt)),
            Span::styled(text.clone(), role(t, Role::Text)),
        ];
        if let Some(e) = &p.error {
            spans.push(Span::styled(
                format!("   ✗ {}", one_line(e)),
                role(t, Role::Error),
            ));
        } else if let Some(n) = &p.note {
            spans.push(Span::styled(
                format!("   ← {} (enter runs it, esc cancels)", one_line(n)),
                role(t, Role::Muted),
            ));
        } else if p.kind == PromptKind::Filter && !text.is_empty() {
            spans.push(Span::styled(
                "   ✓ enter applies, esc cancels",
                role(t, Role::Ok),
            ));
        }
        f.render_widget(Paragraph::new(Line::from(spans)), area);
        let prefix: String = text.chars().take(cursor).collect();
        let x = area.x + 1 + width(&prefix) as u16;
        if x < area.right() {
            f.set_cursor_position(Position::new(x, area.y));
        }
        return;
    }
    if let Some(fl) = &s.flash {
        let r = if fl.error { Role::Error } else { Role::Accent };
        f.render_widget(
            Paragraph::new(Line::styled(one_line(&fl.text), role(t, r))),
            area,
        );
        return;
    }
    // Key hints from the keymap itself.
    let hint = |a: Action, what: &str| -> Vec<Span<'static>> {
        match s.keymap.key_for(a) {
            Some(k) => vec![
                Span::styled(k.to_string(), role(t, Role::Key)),
                Span::styled(format!(" {what}  "), role(t, Role::Muted)),
            ],
            None => Vec::new(),
        }
    };
    let mut spans = Vec::new();
    for (a, w) in [
        (Action::Help, "help"),
        (Action::Filter, "filter"),
        (Action::OpenDetail, "open"),
        (Action::ToggleMark, "mark"),
        (Action::Acknowledge, "ack"),
        (Action::Dismiss, "dismiss"),
        (Action::Snooze, "snooze"),
        (Action::Resolve, "resolve"),
        (Action::NextTab, "tab"),
        (Action::Command, "command"),
        (Action::Quit, "quit"),
    ] {
        spans.extend(hint(a, w));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
