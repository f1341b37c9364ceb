//! The detail pane: tabs over the selected alert. Long texts are windowed: only the lines on
//! screen become widgets.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::style::role;
use crate::config::theme::{Role, Theme};
use crate::console::model::{Focus, State, Tab};
use crate::present::iso;
use crate::sanitize::{self, one_line};

pub fn draw(f: &mut Frame<'_>, area: Rect, s: &State, compact: bool) {
    let t = &s.theme;
    let focused = s.focus == Focus::Detail;
    let inner = if compact {
        area
    } else {
        let mut spans = vec![Span::raw(" ")];
        for tab in Tab::ALL {
            let r = if tab == s.tab {
                Role::TabActive
            } else {
                Role::TabInactive
            };
            spans.push(Span::styled(format!(" {} ", tab.title()), role(t, r)));
            spans.push(Span::raw(" "));
        }
        let block = super::style::pane_block(t, focused, Line::from(spans));
        let inner = block.inner(area);
        f.render_widget(block, area);
        inner
    };
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    // The evidence can be thousands of lines: only the visible ones become widgets.
    if let (Some(d), Tab::Evidence) = (&s.detail, s.tab) {
        let mut shown = vec![Line::styled(
            format!(
                "Raw {} payload ({} lines), sanitized — line {} of {}:",
                d.alert.alert.vendor.display_name(),
                d.evidence.len(),
                (s.detail_scroll as usize).min(d.evidence.len().saturating_sub(1)) + 1,
                d.evidence.len()
            ),
            role(t, Role::Muted),
        )];
        shown.extend(window_styled(
            &d.evidence,
            s.detail_scroll as usize,
            inner.height.saturating_sub(1) as usize,
            inner.width,
        ));
        f.render_widget(Paragraph::new(shown), inner);
        return;
    }
    let lines = match &s.detail {
        None if s.loaded && s.total == 0 => {
            vec![Line::styled("Nothing selected.", role(t, Role::Muted))]
        }
        None => vec![Line::styled("loading…", role(t, Role::Muted))],
        Some(d) => tab_lines(s, d, t, inner.width),
    };
    // Window the text: only what fits from the scroll position on.
    let max_scroll = lines.len().saturating_sub(inner.height as usize);
    let from = (s.detail_scroll as usize).min(max_scroll);
    let shown: Vec<Line<'static>> = lines
        .into_iter()
        .skip(from)
        .take(inner.height as usize)
        .collect();
    f.render_widget(Paragraph::new(shown), inner);
}

/// Wrap plain text into lines of at most `width` cells (the pane windows by line, so it
/// wraps itself instead of asking the paragraph to).
fn wrap(text: &str, width: u16, style: ratatui::style::Style) -> Vec<Line<'static>> {
    let w = width.max(10) as usize;
    let mut out = Vec::new();
    for raw in text.lines() {
        if raw.is_empty() {
            out.push(Line::raw(""));
            continue;
        }
        let mut line = String::new();
        let mut cells = 0;
        for ch in raw.chars() {
            let cw = sanitize::width(ch.encode_utf8(&mut [0; 4]));
            if cells + cw > w {
                out.push(Line::styled(std::mem::take(&mut line), style));
                cells = 0;
            }
            line.push(ch);
            cells += cw;
        }
        out.push(Line::styled(line, style));
    }
    out
}

/// Rows for a long highlighted text, built only for what is on screen: from source line
/// `scroll`, wrapped to `width`, until `height` rows are filled.
fn window_styled(
    src: &[crate::highlight::StyledLine],
    scroll: usize,
    height: usize,
    width: u16,
) -> Vec<Line<'static>> {
    let from = scroll.min(src.len().saturating_sub(1));
    let mut out = Vec::with_capacity(height);
    for l in src.iter().skip(from) {
        if out.len() >= height {
            break;
        }
        out.extend(super::style::wrap_line(super::style::styled_line(l), width));
    }
    out.truncate(height);
    out
}

fn tab_lines(
    s: &State,
    d: &crate::console::model::Detail,
    t: &Theme,
    width: u16,
) -> Vec<Line<'static>> {
    let text = role(t, Role::Text);
    let muted = role(t, Role::Muted);
    let a = &d.alert;
    match s.tab {
        Tab::Overview => {
            let body = &d.overview;
            let mut lines = Vec::new();
            for (i, l) in wrap(body, width, text).into_iter().enumerate() {
                lines.push(if i == 0 {
                    l.style(role(t, Role::Title))
                } else {
                    l
                });
            }
            lines
        }
        Tab::Narrative => {
            use crate::console::model::Narration;
            let mut lines = Vec::new();
            if s.narrator_offline {
                lines.push(Line::styled(
                    "Offline: no LLM is configured ([llm] in the config, docs/ai.md), so the \
                     offline narrator writes this from the alert's fields.",
                    muted,
                ));
                lines.push(Line::raw(""));
            }
            match &s.narration {
                Narration::NotAsked => lines.push(Line::styled(
                    format!("Open this tab to ask {}.", one_line(&s.narrator_label)),
                    muted,
                )),
                Narration::Streaming { label, text: body } => {
                    lines.push(Line::styled(
                        format!(
                            "{} is writing… (moving the selection cancels)",
                            one_line(label)
                        ),
                        role(t, Role::Accent),
                    ));
                    lines.extend(wrap(&sanitize::text(body), width, text));
                }
                Narration::Ready(n) => lines.extend(wrap(&n.to_text(), width, text)),
                Narration::Failed { reason, fallback } => {
                    lines.push(Line::styled(
                        format!("narrative unavailable: {}", one_line(reason)),
                        role(t, Role::Error),
                    ));
                    lines.push(Line::raw(""));
                    lines.extend(wrap(&fallback.to_text(), width, text));
                }
            }
            lines
        }
        Tab::Score => {
            let Some(sc) = &d.score else {
                return vec![Line::styled("No score stored for this alert yet.", muted)];
            };
            let mut lines = vec![
                Line::from(vec![
                    Span::styled("Score ", role(t, Role::Title)),
                    Span::styled(format!("{}/100", sc.total), role(t, Role::Accent)),
                    Span::styled(
                        "  — the queue's order: score, then severity, then recency",
                        muted,
                    ),
                ]),
                Line::raw(""),
            ];
            for f in &sc.factors {
                let pts = if f.points >= 0 {
                    format!("{:>+4} ", f.points)
                } else {
                    format!("{:>4} ", f.points)
                };
                let style = if f.points >= 0 {
                    role(t, Role::Accent)
                } else {
                    role(t, Role::Warn)
                };
                let label = sanitize::one_line(&f.label);
                let mut first = true;
                for l in wrap(&label, width.saturating_sub(6), text) {
                    let lead = if first {
                        Span::styled(pts.clone(), style)
                    } else {
                        Span::raw("      ")
                    };
                    first = false;
                    let mut spans = vec![lead];
                    spans.extend(l.spans);
                    lines.push(Line::from(spans));
                }
            }
            lines.push(Line::raw(""));
            lines.push(Line::styled(
                "Weights and tag rules: [scoring] in the config (docs/prioritization.md).",
                muted,
            ));
            lines
        }
        Tab::AttackPath => {
            let mut lines = Vec::new();
            if d.paths.is_empty() {
                lines.push(Line::styled(
                    "Not on an attack path: the alerts on this resource do not chain internet \
                     exposure → exploitable workload → privileged identity → sensitive data.",
                    muted,
                ));
            }
            for p in &d.paths {
                lines.push(Line::from(vec![
                    Span::styled("Attack path on ", role(t, Role::Title)),
                    Span::styled(one_line(&p.resource), role(t, Role::Title)),
                    Span::styled(format!("  {}/100", p.total), role(t, Role::Accent)),
                ]));
                for (i, step) in p.steps.iter().enumerate() {
                    let here = step.alert_id == a.id;
                    let arrow = if i == 0 { "  " } else { "→ " };
                    let st = if here { role(t, Role::Selection) } else { text };
                    lines.push(Line::from(vec![
                        Span::styled(
                            format!("{arrow}{:<21}", step.stage.label()),
                            role(t, Role::Key),
                        ),
                        Span::styled(one_line(&step.label), st),
                    ]));
                    lines.push(Line::styled(
                        format!(
                            "                       {} · score {}{}",
                            one_line(&step.alert_id),
                            step.score,
                            if here { " · this alert" } else { "" }
                        ),
                        muted,
                    ));
                }
                for f in &p.factors {
                    lines.push(Line::styled(
                        format!("  {:>+4} {}", f.points, one_line(&f.label)),
                        muted,
                    ));
                }
                for c in &p.vendor_context {
                    lines.extend(wrap(
                        &format!("  vendor: {}", sanitize::text(c)),
                        width,
                        muted,
                    ));
                }
                lines.push(Line::raw(""));
            }
            if let Some(v) = &a.alert.attack_context {
                lines.push(Line::styled(
                    "The vendor's attack-path / graph context:",
                    muted,
                ));
                let mut findings = sanitize::Findings::default();
                let clean = sanitize::json(v, &mut findings);
                let pretty = serde_json::to_string_pretty(&clean).unwrap_or_default();
                lines.extend(wrap(&pretty, width, text));
            }
            lines
        }
        // Drawn windowed in `draw`.
        Tab::Evidence => Vec::new(),
        Tab::History => {
            if a.history.is_empty() {
                return vec![Line::styled("No history yet.", muted)];
            }
            let mut lines = Vec::new();
            for h in &a.history {
                let change = match (&h.from_status, &h.to_status) {
                    (Some(f), Some(to)) => format!("{} → {}", one_line(f), one_line(to)),
                    (None, Some(to)) => one_line(to),
                    _ => one_line(&h.kind),
                };
                let mut l = vec![
                    Span::styled(format!("{}  ", iso(h.at)), muted),
                    Span::styled(
                        format!("{:<10} ", one_line(&h.actor)),
                        role(t, Role::Accent),
                    ),
                    Span::styled(change, text),
                ];
                if let Some(r) = &h.reason {
                    l.push(Span::styled(format!("  reason: {}", one_line(r)), text));
                }
                lines.push(Line::from(l));
                if let Some(n) = &h.note {
                    lines.extend(wrap(&format!("    {}", sanitize::text(n)), width, muted));
                }
            }
            lines
        }
    }
}

/// The remediation pane: the vendor's remediation text.
pub fn draw_remediation(f: &mut Frame<'_>, area: Rect, s: &State) {
    let t = &s.theme;
    let focused = s.focus == Focus::Remediation;
    let block = super::style::pane_block(
        t,
        focused,
        Line::from(vec![
            Span::styled(" Remediation ", role(t, Role::Title)),
            Span::styled(
                format!(
                    "{} ",
                    s.detail
                        .as_ref()
                        .map(|d| one_line(&d.remediation_title))
                        .unwrap_or_default()
                ),
                role(t, Role::Muted),
            ),
        ]),
    );
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let shown: Vec<Line<'static>> = match &s.detail {
        Some(d) if d.remediation.is_empty() => vec![Line::styled(
            "No remediation: no generator fits this alert and the vendor gave none.",
            role(t, Role::Muted),
        )],
        // Diffs can be thousands of lines: only the visible ones become widgets.
        Some(d) => window_styled(
            &d.remediation,
            s.remediation_scroll as usize,
            inner.height as usize,
            inner.width,
        ),
        None => Vec::new(),
    };
    f.render_widget(Paragraph::new(shown), inner);
}
