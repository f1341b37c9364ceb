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
