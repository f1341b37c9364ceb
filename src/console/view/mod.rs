//! Drawing: one function from the state to a frame. Panes ask the theme for roles, never for
//! colours; every string from a vendor passes through `sanitize` on its way to a cell.

pub mod detail;
pub mod modal;
pub mod queue;
pub mod status;
pub mod style;

use ratatui::Frame;

use crate::console::model::{State, layout};

/// Draw the whole screen.
pub fn draw(f: &mut Frame<'_>, s: &State) {
    let area = f.area();
    let a = layout::areas((area.width, area.height), s.zoom);
    if let Some(q) = a.queue {
        queue::draw(f, q, s, a.compact);
    }
    if let Some(d) = a.detail {
        detail::draw(f, d, s, a.compact);
    }
    if let Some(r) = a.remediation {
        detail::draw_remediation(f, r, s);
    }
    status::draw_status(f, a.status, s);
    status::draw_bottom(f, a.bottom, s);
    if let Some(m) = &s.modal {
        modal::draw_decision(f, area, s, m);
    } else if let Some(scroll) = s.help {
        modal::draw_help(f, area, s, scroll);
    }
}
