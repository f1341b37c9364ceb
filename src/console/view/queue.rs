//! The queue pane: only the visible rows are built (the state holds a window of the list).

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};

use super::style::{role, severity_role, status_role};
use crate::config::theme::Role;
use crate::console::model::{Focus, Freshness, State, sort_name};
use crate::present::age;
use crate::sanitize::{fit, one_line};

struct Col {
    title: &'static str,
    width: u16,
    /// Dropped first when the pane is narrow (higher goes first).
    drop: u8,
}

const COLS: [Col; 10] = [
    Col {
        title: "",
        width: 2,
        drop: 0,
    },
    Col {
        title: "SCORE",
        width: 5,
        drop: 1,
    },
    Col {
        title: "SEV",
        width: 4,
        drop: 0,
    },
    Col {
        title: "VENDOR",
        width: 14,
        drop: 5,
    },
    Col {
        title: "TITLE",
        width: 0,
        drop: 0,
    },
    Col {
        title: "RESOURCE",
        width: 20,
        drop: 3,
    },
    Col {
        title: "ACCOUNT",
        width: 14,
        drop: 7,
    },
    Col {
        title: "AGE",
        width: 4,
        drop: 2,
    },
    Col {
        title: "STATUS",
        width: 11,
        drop: 4,
    },
    Col {
        title: "TICKET",
        width: 10,
        drop: 8,
    },
];

/// Which columns fit in `width` (the title keeps at least 24 cells).
fn columns(width: u16) -> Vec<usize> {
    let mut keep: Vec<usize> = (0..COLS.len()).collect();
    let need = |k: &[usize]| -> u16 { k.iter().map(|&i| COLS[i].width + 1).sum::<u16>() + 24 };
    let mut level = 8;
    while need(&keep) > width && level > 0 {
        keep.retain(|&i| COLS[i].drop != level);
        level -= 1;
    }
    keep
}

/// The score's colour: by the severity band it falls in.
fn score_role(score: u8) -> Role {
    severity_role(match score {
        80.. => 5,
        60..=79 => 4,
        40..=59 => 3,
        20..=39 => 2,
        _ => 1,
    })
}

fn sev_short(rank: u8, name: &str) -> String {
    match rank {
        5 => "CRIT".into(),
        4 => "HIGH".into(),
        3 if name == "medium" => "MED".into(),
        2 => "LOW".into(),
        1 => "INFO".into(),
        _ => fit(&one_line(name).to_uppercase(), 4),
    }
}

pub fn draw(f: &mut Frame<'_>, area: Rect, s: &State, compact: bool) {
    let t = &s.theme;
    let focused = s.focus == Focus::Queue;
    let inner = if compact {
        area
    } else {
        let mut title = vec![Span::styled(" Queue ", role(t, Role::Title))];
        let count = if s.loaded {
            format!("{} alerts", s.total_text())
        } else {
            "loading…".into()
        };
        title.push(Span::styled(
            format!("{count} · by {} ", sort_name(s.sort)),
            role(t, Role::Muted),
        ));
        if !s.marked.is_empty() {
            title.push(Span::styled(
                format!("· {} marked ", s.marked.len()),
                role(t, Role::Marked),
            ));
        }
        let block = super::style::pane_block(t, focused, Line::from(title));
        let inner = block.inner(area);
        f.render_widget(block, area);
        inner
    };
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let cols = columns(inner.width);
    let visible = inner.height.saturating_sub(1) as usize;
    if s.loaded && s.total == 0 {
        let msg = if s.filter.is_some() {
            "No alerts match the filter. ctrl-l clears it."
        } else {
            "The queue is empty: nothing active. Sync (s) or import alerts (sitrep import)."
        };
        let header = Line::styled(msg, role(t, Role::Muted));
        f.render_widget(header, inner);
        return;
    }
    let mut rows = Vec::with_capacity(visible);
    for i in s.offset..(s.offset + visible).min(s.total.max(s.offset)) {
        let Some(r) = s.window.get(i) else {
            rows.push(Row::new(vec![Cell::from("")]).style(role(t, Role::Muted)));
            continue;
        };
        let marked = s.marked.contains(&r.id);
        let fresh = s.freshness(r);
        let marker = match (marked, fresh) {
            (true, _) => Span::styled("▌", role(t, Role::Marked)),
            (false, Freshness::New) => Span::styled("●", role(t, Role::New)),
            // Back in the queue outranks "changed": a vendor reopening changes the alert too.
            (false, Freshness::Changed | Freshness::Seen) if r.resurfaced => {
                Span::styled("↺", role(t, Role::Changed))
            }
            (false, Freshness::Changed) => Span::styled("◆", role(t, Role::Changed)),
            (false, Freshness::Seen) => Span::raw(" "),
        };
        let rank = r.severity.rank();
        let status = r.status.replace('_', " ");
        let mut cells = Vec::with_capacity(cols.len());
        for &c in &cols {
            let cell = match c {
                0 => Cell::from(Line::from(marker.clone())),
                1 => Cell::from(Span::styled(
                    format!("{:>5}", r.score),
                    role(t, score_role(r.score)),
                )),
                2 => Cell::from(Span::styled(
                    sev_short(rank, &r.severity.to_store()),
                    role(t, severity_role(rank)),
                )),
                3 => Cell::from(Span::styled(one_line(&r.vendor), role(t, Role::Muted))),
                4 => {
                    let mut title = one_line(&r.title);
                    if r.has_controls {
                        title.insert_str(0, "⚠ ");
                    }
                    if r.vendor_status.is_closed() {
                        // Closed at the vendor (fixed, or gone from a Compute scan): marked
                        // whatever the status here (which followed it unless an analyst decided).
                        Cell::from(Line::from(vec![
                            Span::styled("✓ ", role(t, Role::Muted)),
                            Span::raw(title),
                        ]))
                    } else {
                        Cell::from(title)
                    }
                }
                5 => Cell::from(one_line(r.resource.as_deref().unwrap_or("—"))),
                6 => Cell::from(Span::styled(
                    one_line(r.account.as_deref().unwrap_or("—")),
                    role(t, Role::Muted),
                )),
                7 => Cell::from(Span::styled(
                    age(s.now_ms, r.first_seen.unwrap_or(r.sort_time)),
                    role(t, Role::Muted),
                )),
                8 => match r.assignee.as_deref() {
                    // Team mode: who holds the alert, while the claim lasts.
                    Some(who) if r.claim_until.is_some_and(|u| u > s.now_ms) => {
                        Cell::from(Line::from(vec![
                            Span::styled(status.clone(), role(t, status_role(&r.status))),
                            Span::styled(format!(" @{}", one_line(who)), role(t, Role::Accent)),
                        ]))
                    }
                    _ => Cell::from(Span::styled(
                        status.clone(),
                        role(t, status_role(&r.status)),
                    )),
                },
                _ => Cell::from(one_line(r.ticket.as_deref().unwrap_or(""))),
            };
            cells.push(cell);
        }
        let mut row = Row::new(cells).style(role(t, Role::Text));
        if i == s.selected {
            row = row.style(role(t, Role::Selection));
        } else if marked {
            row = row.style(role(t, Role::Text).patch(role(t, Role::Marked)));
        }
        rows.push(row);
    }
    let widths: Vec<Constraint> = cols
        .iter()
        .map(|&c| {
            if COLS[c].width == 0 {
                Constraint::Min(10)
            } else {
                Constraint::Length(COLS[c].width)
            }
        })
        .collect();
    let header = Row::new(
        cols.iter()
            .map(|&c| Cell::from(COLS[c].title))
            .collect::<Vec<_>>(),
    )
    .style(role(t, Role::Muted));
    let table = Table::new(rows, widths).header(header).column_spacing(1);
    f.render_widget(table, inner);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrow_panes_drop_columns_in_order() {
        assert_eq!(columns(200).len(), COLS.len());
        let c = columns(60);
        assert!(c.contains(&4) && c.contains(&2) && c.contains(&0));
        assert!(
            columns(94).contains(&1),
            "the score shows beside the detail at 160 cells"
        );
        assert!(columns(94).contains(&3), "so does the vendor");
        assert!(!c.contains(&9));
        assert!(columns(10).contains(&4));
    }
}
