//! Theme roles → ratatui styles.

use ratatui::style::{Color as TColor, Modifier, Style};

use crate::config::theme::{Color, Role, RoleStyle, Theme};

fn colour(c: Color) -> TColor {
    match c {
        Color::Reset => TColor::Reset,
        Color::Ansi(i) => match i {
            0 => TColor::Black,
            1 => TColor::Red,
            2 => TColor::Green,
            3 => TColor::Yellow,
            4 => TColor::Blue,
            5 => TColor::Magenta,
            6 => TColor::Cyan,
            7 => TColor::Gray,
            8 => TColor::DarkGray,
            9 => TColor::LightRed,
            10 => TColor::LightGreen,
            11 => TColor::LightYellow,
            12 => TColor::LightBlue,
            13 => TColor::LightMagenta,
            14 => TColor::LightCyan,
            _ => TColor::White,
        },
        Color::Indexed(i) => TColor::Indexed(i),
        Color::Rgb(r, g, b) => TColor::Rgb(r, g, b),
    }
}

pub fn convert(r: RoleStyle) -> Style {
    let mut s = Style::default();
    if let Some(fg) = r.fg {
        s = s.fg(colour(fg));
    }
    if let Some(bg) = r.bg {
        s = s.bg(colour(bg));
    }
    let mut m = Modifier::empty();
    if r.bold {
        m |= Modifier::BOLD;
    }
    if r.italic {
        m |= Modifier::ITALIC;
    }
    if r.underline {
        m |= Modifier::UNDERLINED;
    }
    if r.reversed {
        m |= Modifier::REVERSED;
    }
    if r.dim {
        m |= Modifier::DIM;
    }
    s.add_modifier(m)
}

/// The style of a role in the current theme.
pub fn role(t: &Theme, r: Role) -> Style {
    convert(t.style(r))
}

pub fn severity_role(rank: u8) -> Role {
    match rank {
        5 => Role::SevCritical,
        4 => Role::SevHigh,
        3 => Role::SevMedium,
        2 => Role::SevLow,
        _ => Role::SevInfo,
    }
}

pub fn status_role(status: &str) -> Role {
    match status {
        "new" => Role::StatusNew,
        "acknowledged" | "in_progress" => Role::StatusActive,
        _ => Role::StatusClosed,
    }
}

/// A highlighted line (from `highlight`) as a ratatui line, the line's background carried over
/// to the whole row when it has one (diff +/− lines).
pub fn styled_line(l: &crate::highlight::StyledLine) -> ratatui::text::Line<'static> {
    let rgb = |c: crate::highlight::Rgb| TColor::Rgb(c.0, c.1, c.2);
    let spans: Vec<ratatui::text::Span<'static>> = l
        .spans
        .iter()
        .map(|(st, text)| {
            let mut s = Style::default();
            if let Some(fg) = st.fg {
                s = s.fg(rgb(fg));
            }
            if let Some(bg) = st.bg {
                s = s.bg(rgb(bg));
            }
            if st.bold {
                s = s.add_modifier(Modifier::BOLD);
            }
            if st.italic {
                s = s.add_modifier(Modifier::ITALIC);
            }
            if st.underline {
                s = s.add_modifier(Modifier::UNDERLINED);
            }
            ratatui::text::Span::styled(text.clone(), s)
        })
        .collect();
    let line = ratatui::text::Line::from(spans);
    match l.fill_bg() {
        Some(bg) => line.style(Style::default().bg(rgb(bg))),
        None => line,
    }
}

/// Cut a styled line into rows of at most `width` cells, keeping each span's style.
pub fn wrap_line(
    line: ratatui::text::Line<'static>,
    width: u16,
) -> Vec<ratatui::text::Line<'static>> {
    let w = width.max(10) as usize;
    if line.width() <= w {
        return vec![line];
    }
    let mut out = Vec::new();
    let mut cur: Vec<ratatui::text::Span<'static>> = Vec::new();
    let mut cells = 0;
    for span in line.spans {
        let mut buf = String::new();
        for ch in span.content.chars() {
            let cw = unicode_width::UnicodeWidthChar::width(ch).unwrap_or(0);
            if cells + cw > w {
                if !buf.is_empty() {
                    cur.push(ratatui::text::Span::styled(
                        std::mem::take(&mut buf),
                        span.style,
                    ));
                }
                out.push(ratatui::text::Line::from(std::mem::take(&mut cur)).style(line.style));
                cells = 0;
            }
            buf.push(ch);
            cells += cw;
        }
        if !buf.is_empty() {
            cur.push(ratatui::text::Span::styled(buf, span.style));
        }
    }
    out.push(ratatui::text::Line::from(cur).style(line.style));
    out
}

/// A pane's frame: the focus colour on its border when it has the keyboard.
pub fn pane_block(
    t: &crate::config::theme::Theme,
    focused: bool,
    title: ratatui::text::Line<'static>,
) -> ratatui::widgets::Block<'static> {
    use crate::config::theme::Role;
    ratatui::widgets::Block::default()
        .borders(ratatui::widgets::Borders::ALL)
        .border_style(role(
            t,
            if focused {
                Role::BorderFocus
            } else {
                Role::Border
            },
        ))
        .title(title)
}
