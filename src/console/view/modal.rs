//! Dialogs drawn over the panes: the decision dialog and the help screen (generated from the
//! keymap).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::style::role;
use crate::config::theme::Role;
use crate::console::model::{DecisionKind, DecisionModal, Field, State};
use crate::sanitize::one_line;

/// A centred rectangle of at most `w`×`h` inside `area`.
fn centred(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn frame_block(s: &State, title: String) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(role(&s.theme, crate::config::theme::Role::BorderFocus))
        .title(Span::styled(title, role(&s.theme, Role::Title)))
}

pub fn draw_decision(f: &mut Frame<'_>, area: Rect, s: &State, m: &DecisionModal) {
    let t = &s.theme;
    let n = m.targets.len();
    let what = if n == 1 {
        one_line(&m.targets[0])
    } else {
        format!("{n} alerts")
    };
    let reasons_h = if m.reasons.is_empty() {
        0
    } else {
        m.reasons.len() as u16 + 1
    };
    let until_h = if m.kind.until().is_some() { 3 } else { 0 };
    let want_h = 2 + reasons_h + 6 + until_h + 2;
    let rect = centred(area, 76, want_h);
    f.render_widget(Clear, rect);
    let block = frame_block(s, format!(" {} {what} ", m.kind.title()));
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    if inner.height < 3 {
        return;
    }
    let [reasons_a, note_a, until_a, err_a, hint_a] = Layout::vertical([
        Constraint::Length(reasons_h),
        Constraint::Min(3),
        Constraint::Length(until_h),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    let focus_style = |field: Field| {
        if m.field == field {
            role(t, Role::BorderFocus)
        } else {
            role(t, Role::Border)
        }
    };
    if reasons_h > 0 {
        let mut lines = vec![Line::styled(
            if m.field == Field::Reason {
                "Reason (j/k or 1-9):"
            } else {
                "Reason:"
            },
            role(t, Role::Muted),
        )];
        for (i, r) in m.reasons.iter().enumerate() {
            let chosen = i == m.reason;
            let style = if chosen && m.field == Field::Reason {
                role(t, Role::Selection)
            } else if chosen {
                role(t, Role::Accent)
            } else {
                role(t, Role::Text)
            };
            lines.push(Line::from(vec![
                Span::styled(if chosen { " ● " } else { " ○ " }, style),
                Span::styled(format!("{} {}", i + 1, r.replace('_', " ")), style),
            ]));
        }
        f.render_widget(Paragraph::new(lines), reasons_a);
    }
    let draw_text = |f: &mut Frame<'_>,
                     a: Rect,
                     title: &str,
                     ta: &ratatui_textarea::TextArea<'static>,
                     field: Field| {
        let b = Block::default()
            .borders(Borders::ALL)
            .border_style(focus_style(field))
            .title(Span::styled(format!(" {title} "), role(t, Role::Muted)));
        let ia = b.inner(a);
        f.render_widget(b, a);
        let mut ta = ta.clone();
        ta.set_style(role(t, Role::Text));
        ta.set_placeholder_style(role(t, Role::Muted));
        ta.set_cursor_line_style(Style::default());
        if m.field != field {
            ta.set_cursor_style(Style::default());
        }
        f.render_widget(&ta, ia);
    };
    draw_text(f, note_a, "Note", &m.note, Field::Note);
    if until_h > 0 {
        let title = if m.kind == DecisionKind::Snooze {
            "Until"
        } else {
            "Expires (optional)"
        };
        draw_text(f, until_a, title, &m.until, Field::Until);
    }
    if let Some(e) = &m.error {
        f.render_widget(
            Paragraph::new(Line::styled(
                format!("✗ {}", one_line(e)),
                role(t, Role::Error),
            )),
            err_a,
        );
    }
    f.render_widget(
        Paragraph::new(Line::styled(
            "tab next field · enter saves (ctrl-s in the note) · esc cancels",
            role(t, Role::Muted),
        )),
        hint_a,
    );
}

pub fn draw_help(f: &mut Frame<'_>, area: Rect, s: &State, scroll: u16) {
    let t = &s.theme;
    let rect = centred(area, 84, area.height.saturating_sub(2).max(3));
    f.render_widget(Clear, rect);
    let block = frame_block(s, " Keys — j/k scroll, esc closes ".into());
    let inner = block.inner(rect);
    f.render_widget(block, rect);
    let mut lines = Vec::new();
    for (action, keys) in s.keymap.bindings() {
        let keys = if keys.is_empty() {
            "(unbound)".to_string()
        } else {
            keys.iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{keys:<22}"), role(t, Role::Key)),
            Span::styled(format!("{:<18}", action.name()), role(t, Role::Accent)),
            Span::styled(action.describe(), role(t, Role::Text)),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::styled(
        "Commands (:) — sort KEY · filter QUERY · sync · theme NAME · help · q",
        role(t, Role::Muted),
    ));
    lines.push(Line::styled(
        "Filter (/) — sev:>=high vendor:wiz status:new account:123 tag:env=prod cve:CVE-2021-44228 age:<7d -word \"phrase\"",
        role(t, Role::Muted),
    ));
    lines.push(Line::styled(
        "Markers — ● new since you last looked · ◆ changed · ▌ marked · ↺ resurfaced",
        role(t, Role::Muted),
    ));
    lines.push(Line::styled(
        "          ⚠ vendor text carried hidden characters · ✓ closed at the vendor",
        role(t, Role::Muted),
    ));
    lines.push(Line::styled(
        "Rebind any key in the config file's [keys] table (docs/keys.md).",
        role(t, Role::Muted),
    ));
    let from = (scroll as usize).min(lines.len().saturating_sub(inner.height as usize));
    let shown: Vec<Line<'static>> = lines
        .into_iter()
        .skip(from)
        .take(inner.height as usize)
        .collect();
    f.render_widget(Paragraph::new(shown), inner);
}
