//! Where each pane goes for a terminal size. Shared by `update` (how many queue rows fit, for
//! paging and for the rows to load) and the renderer, so they never disagree.

use ratatui::layout::{Constraint, Layout, Rect};

/// Terminals at least this wide put the queue beside the detail; narrower ones stack the panes.
pub const WIDE: u16 = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub queue: Option<Rect>,
    pub detail: Option<Rect>,
    pub remediation: Option<Rect>,
    /// The status bar (sources, counts, filter); zero-height on a tiny terminal.
    pub status: Rect,
    /// The prompt / message line.
    pub bottom: Rect,
    /// Too small for borders: the queue alone, without a frame.
    pub compact: bool,
}

pub fn areas(size: (u16, u16), zoom: bool) -> Areas {
    let (w, h) = size;
    let full = Rect::new(0, 0, w, h);
    let (main, status, bottom) = if h >= 3 {
        let [m, s, b] = Layout::vertical([
            Constraint::Min(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(full);
        (m, s, b)
    } else {
        (full, Rect::new(0, h, w, 0), Rect::new(0, h, w, 0))
    };
    let compact = main.height < 10 || w < 40;
    if compact {
        return Areas {
            queue: (!zoom).then_some(main),
            detail: zoom.then_some(main),
            remediation: None,
            status,
            bottom,
            compact,
        };
    }
    if zoom {
        let (detail, remediation) = if main.height >= 24 {
            let [d, r] = Layout::vertical([Constraint::Percentage(65), Constraint::Percentage(35)])
                .areas(main);
            (d, Some(r))
        } else {
            (main, None)
        };
        return Areas {
            queue: None,
            detail: Some(detail),
            remediation,
            status,
            bottom,
            compact,
        };
    }
    if w >= WIDE {
        let [q, right] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                .areas(main);
        let [d, r] =
            Layout::vertical([Constraint::Percentage(62), Constraint::Percentage(38)]).areas(right);
        return Areas {
            queue: Some(q),
            detail: Some(d),
            remediation: Some(r),
            status,
            bottom,
            compact,
        };
    }
    if main.height >= 24 {
        let [q, d, r] = Layout::vertical([
            Constraint::Percentage(45),
            Constraint::Percentage(35),
            Constraint::Percentage(20),
        ])
        .areas(main);
        Areas {
            queue: Some(q),
            detail: Some(d),
            remediation: Some(r),
            status,
            bottom,
            compact,
        }
    } else {
        let [q, d] =
            Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(main);
        Areas {
            queue: Some(q),
            detail: Some(d),
            remediation: None,
            status,
            bottom,
            compact,
        }
    }
}

/// Queue rows visible: the queue's height less its frame and header line.
pub fn queue_rows(size: (u16, u16), zoom: bool) -> usize {
    let a = areas(size, zoom);
    match a.queue {
        Some(q) if a.compact => q.height.saturating_sub(1) as usize,
        Some(q) => q.height.saturating_sub(3) as usize,
        // Zoomed: keep paging by what the queue shows when the detail closes.
        None => queue_rows(size, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_size_down_to_nothing_has_a_layout() {
        for w in 0..=200u16 {
            for h in 0..=60u16 {
                for zoom in [false, true] {
                    let a = areas((w, h), zoom);
                    for r in [a.queue, a.detail, a.remediation].into_iter().flatten() {
                        assert!(r.right() <= w && r.bottom() <= h, "{w}x{h} {r:?}");
                    }
                    let _ = queue_rows((w, h), zoom);
                }
            }
        }
    }

    #[test]
    fn wide_is_side_by_side_narrow_is_stacked() {
        let a = areas((160, 45), false);
        let (q, d) = (a.queue.unwrap(), a.detail.unwrap());
        assert_eq!(q.y, d.y);
        assert!(d.x > q.x);
        let a = areas((100, 45), false);
        let (q, d) = (a.queue.unwrap(), a.detail.unwrap());
        assert_eq!(q.x, d.x);
        assert!(d.y > q.y);
        assert!(areas((20, 5), false).compact);
    }
}
