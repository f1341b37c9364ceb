//! Themes by meaning: widgets ask for a [`Role`], a theme file says what it looks like.
//!
//! `dark`, `light` and `high-contrast` ship inside the binary (the files under `themes/`); a
//! file `<config dir>/themes/NAME.toml` overrides or adds one, and roles it leaves out keep the
//! dark theme's look. With `NO_COLOR` set, [`Theme::no_color`] replaces colours by bold,
//! underline and reverse video. No terminal types here: the console converts.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

/// The embedded themes: (name, file text).
pub const BUILTIN: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
];

macro_rules! roles {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// What a piece of the screen means.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Role { $($variant),* }

        impl Role {
            pub const ALL: &'static [Role] = &[$(Role::$variant),*];
            pub fn name(self) -> &'static str {
                match self { $(Role::$variant => $name),* }
            }
        }
    };
}

roles! {
    Text => "text",
    Muted => "muted",
    Accent => "accent",
    Border => "border",
    BorderFocus => "border_focus",
    Title => "title",
    Selection => "selection",
    Marked => "marked",
    New => "new",
    Changed => "changed",
    SevCritical => "sev_critical",
    SevHigh => "sev_high",
    SevMedium => "sev_medium",
    SevLow => "sev_low",
    SevInfo => "sev_info",
    StatusNew => "status_new",
    StatusActive => "status_active",
    StatusClosed => "status_closed",
    Ok => "ok",
    Warn => "warn",
    Error => "error",
    TabActive => "tab_active",
    TabInactive => "tab_inactive",
    StatusBar => "status_bar",
    Prompt => "prompt",
    Key => "key",
    DiffAdd => "diff_add",
    DiffDel => "diff_del",
}

/// A terminal colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    Reset,
    /// One of the 16 named terminal colours, by index 0-15.
    Ansi(u8),
    Indexed(u8),
    Rgb(u8, u8, u8),
}

const NAMES: [&str; 16] = [
    "black",
    "red",
    "green",
    "yellow",
    "blue",
    "magenta",
    "cyan",
    "gray",
    "darkgray",
    "lightred",
    "lightgreen",
    "lightyellow",
    "lightblue",
    "lightmagenta",
    "lightcyan",
    "white",
];

impl Color {
    pub fn parse(s: &str) -> Result<Color, String> {
        let t = s.trim().to_ascii_lowercase();
        if t == "reset" || t == "default" {
            return Ok(Color::Reset);
        }
        if let Some(hex) = t.strip_prefix('#') {
            if hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
                let v = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0);
                return Ok(Color::Rgb(v(0), v(2), v(4)));
            }
            return Err(format!("'{s}' is not a #rrggbb colour"));
        }
        if let Some(i) = NAMES
            .iter()
            .position(|n| *n == t || (t == "grey" && *n == "gray"))
        {
            return Ok(Color::Ansi(i as u8));
        }
        if let Ok(n) = t.parse::<u8>() {
            return Ok(Color::Indexed(n));
        }
        Err(format!(
            "unknown colour '{}'; use #rrggbb, 0-255 or a name ({})",
            crate::sanitize::one_line(s),
            NAMES.join(", ")
        ))
    }
}

/// How one role looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RoleStyle {
    pub fg: Option<Color>,
    pub bg: Option<Color>,
    pub bold: bool,
    pub italic: bool,
    pub underline: bool,
    pub reversed: bool,
    pub dim: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRole {
    fg: Option<String>,
    bg: Option<String>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default)]
    underline: bool,
    #[serde(default)]
    reversed: bool,
    #[serde(default)]
    dim: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTheme {
    name: Option<String>,
    syntax_theme: Option<String>,
    #[serde(default)]
    roles: BTreeMap<String, RawRole>,
}

/// A resolved theme: a style for every role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    pub name: String,
    pub syntax_theme: String,
    /// Colours off (`NO_COLOR`): the console also draws the syntax highlighting plain.
    pub monochrome: bool,
    styles: BTreeMap<Role, RoleStyle>,
}

impl Theme {
    pub fn style(&self, role: Role) -> RoleStyle {
        self.styles.get(&role).copied().unwrap_or_default()
    }

    /// Parse a theme file over `base` (roles it leaves out keep `base`'s look).
    /// Errors name the role or key: `roles.sev_high.fg: unknown colour 'redd'`.
    pub fn parse(text: &str, base: Option<&Theme>) -> Result<Theme, String> {
        let raw: RawTheme =
            toml::from_str(text).map_err(|e| e.message().trim().replace('\n', " "))?;
        let mut styles = base.map(|b| b.styles.clone()).unwrap_or_default();
        for (name, r) in raw.roles {
            let role = Role::ALL
                .iter()
                .copied()
                .find(|x| x.name() == name)
                .ok_or_else(|| {
                    format!(
                        "roles.{}: unknown role; known roles: {}",
                        crate::sanitize::one_line(&name),
                        Role::ALL
                            .iter()
                            .map(|r| r.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })?;
            let colour = |v: &Option<String>, which: &str| {
                v.as_deref()
                    .map(Color::parse)
                    .transpose()
                    .map_err(|e| format!("roles.{name}.{which}: {e}"))
            };
            styles.insert(
                role,
                RoleStyle {
                    fg: colour(&r.fg, "fg")?,
                    bg: colour(&r.bg, "bg")?,
                    bold: r.bold,
                    italic: r.italic,
                    underline: r.underline,
                    reversed: r.reversed,
                    dim: r.dim,
                },
            );
        }
        Ok(Theme {
            name: raw
                .name
                .map(|n| crate::sanitize::one_line(&n))
                .or_else(|| base.map(|b| b.name.clone()))
                .unwrap_or_else(|| "custom".into()),
            syntax_theme: raw
                .syntax_theme
                .map(|n| crate::sanitize::one_line(&n))
                .or_else(|| base.map(|b| b.syntax_theme.clone()))
                .unwrap_or_else(|| "base16-ocean.dark".into()),
            monochrome: false,
            styles,
        })
    }

    /// The embedded dark theme (always valid: a test parses every embedded theme).
    pub fn dark() -> Theme {
        Theme::builtin("dark").unwrap_or_else(|| Theme {
            name: "dark".into(),
            syntax_theme: "base16-ocean.dark".into(),
            monochrome: false,
            styles: BTreeMap::new(),
        })
    }

    pub fn builtin(name: &str) -> Option<Theme> {
        BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, text)| Theme::parse(text, None).ok())
    }

    /// The names a user can pick: the built-ins and any `<dir>/NAME.toml`.
    pub fn available(user_dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = BUILTIN.iter().map(|(n, _)| n.to_string()).collect();
        if let Ok(rd) = std::fs::read_dir(user_dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "toml")
                    && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
                    && !names.iter().any(|n| n == stem)
                {
                    names.push(stem.to_string());
                }
            }
        }
        names
    }

    /// Load `name`: `<user_dir>/NAME.toml` if present (over the dark theme, or over the
    /// built-in of the same name), else the built-in. Errors name the file and the key.
    pub fn load(name: &str, user_dir: &Path) -> Result<Theme, String> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(format!(
                "'{}' is not a theme name",
                crate::sanitize::one_line(name)
            ));
        }
        let file = user_dir.join(format!("{name}.toml"));
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                let base = Theme::builtin(name).unwrap_or_else(Theme::dark);
                Theme::parse(&text, Some(&base))
                    .map_err(|e| format!("theme file {}: {e}", file.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Theme::builtin(name).ok_or_else(|| {
                    format!(
                        "unknown theme '{}'; available: {}",
                        crate::sanitize::one_line(name),
                        Theme::available(user_dir).join(", ")
                    )
                })
            }
            Err(e) => Err(format!("cannot read theme file {}: {e}", file.display())),
        }
    }

    /// `NO_COLOR`: no colours at all; meaning carried by bold, underline and reverse video.
    pub fn no_color() -> Theme {
        let mut styles = BTreeMap::new();
        let s = |bold, underline, reversed| RoleStyle {
            bold,
            underline,
            reversed,
            ..RoleStyle::default()
        };
        for r in Role::ALL {
            let st = match r {
                Role::Selection | Role::TabActive | Role::StatusBar => s(false, false, true),
                Role::SevCritical | Role::Error => s(true, true, false),
                Role::SevHigh
                | Role::Title
                | Role::Accent
                | Role::Marked
                | Role::New
                | Role::Key
                | Role::Prompt
                | Role::BorderFocus => s(true, false, false),
                Role::Changed => s(false, true, false),
                _ => RoleStyle::default(),
            };
            styles.insert(*r, st);
        }
        Theme {
            name: "no-color".into(),
            syntax_theme: "none".into(),
            monochrome: true,
            styles,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_defines_every_role() {
        for (name, text) in BUILTIN {
            let t = Theme::parse(text, None).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(t.name, *name);
            for r in Role::ALL {
                assert!(t.styles.contains_key(r), "{name} lacks {}", r.name());
            }
        }
    }

    #[test]
    fn user_theme_overrides_part_and_errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("mine.toml"),
            "[roles]\nsev_high = { fg = \"#010203\" }\n",
        )
        .unwrap();
        let t = Theme::load("mine", dir.path()).unwrap();
        assert_eq!(t.style(Role::SevHigh).fg, Some(Color::Rgb(1, 2, 3)));
        assert_eq!(t.style(Role::Text), Theme::dark().style(Role::Text));
        std::fs::write(
            dir.path().join("bad.toml"),
            "[roles]\nsev_high = { fg = \"redd\" }\n",
        )
        .unwrap();
        let e = Theme::load("bad", dir.path()).unwrap_err();
        assert!(
            e.contains("roles.sev_high.fg: unknown colour 'redd'"),
            "{e}"
        );
        let e = Theme::load("nope", dir.path()).unwrap_err();
        assert!(e.starts_with("unknown theme 'nope'; available: dark, light, high-contrast"));
        assert!(Theme::load("../etc/passwd", dir.path()).is_err());
    }

    #[test]
    fn no_color_has_no_colours() {
        let t = Theme::no_color();
        for r in Role::ALL {
            assert_eq!(t.style(*r).fg, None);
            assert_eq!(t.style(*r).bg, None);
        }
        assert!(t.style(Role::Selection).reversed);
    }
}
