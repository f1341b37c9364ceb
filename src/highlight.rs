//! Syntax highlighting of code and unified diffs into plain styled data.
//!
//! This is a data-layer module: it never imports a terminal library. It turns text into
//! [`StyledLine`]s (spans of text with an RGB foreground/background and bold/italic/underline);
//! the TUI converts those into its own widgets, and [`to_ansi`] turns them into 24-bit escape
//! sequences for `sitrep show --diff` on a terminal.
//!
//! Grammars come from syntect's Sublime syntaxes plus the `two-face` set (bat's), because
//! syntect's own bundle lacks HCL/Terraform and Dockerfile. The syntax set is deserialized once
//! per process ([`OnceLock`]); call [`preload`] from a background thread to keep that cost off
//! the UI thread.
//!
//! Input is untrusted: every text goes through [`crate::sanitize`] (escape sequences, controls,
//! bidi and zero-width characters removed; newlines and tabs kept) and tabs are expanded, so no
//! escape sequence can survive into a span.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use syntect::easy::HighlightLines;
use syntect::highlighting::{
    Color, FontStyle, HighlightState, Highlighter as SynHighlighter, Style, Theme, ThemeSet,
};
use syntect::parsing::{ParseState, SyntaxReference, SyntaxSet};

/// Columns per tab stop when tabs are expanded.
pub const TAB_WIDTH: usize = 4;

/// The name of the theme that produces no colours (bold/underline only).
pub const PLAIN_THEME: &str = "none";

/// The languages sitrep highlights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lang {
    Hcl,
    Yaml,
    Json,
    Dockerfile,
    Shell,
    Plain,
}

impl Lang {
    /// The language of a file, by its name or extension.
    pub fn from_path(path: &Path) -> Lang {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if name == "dockerfile"
            || name.starts_with("dockerfile.")
            || name.ends_with(".dockerfile")
            || name == "containerfile"
        {
            return Lang::Dockerfile;
        }
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("tf" | "hcl" | "tfvars") => Lang::Hcl,
            Some("yaml" | "yml") => Lang::Yaml,
            Some("json" | "template") => Lang::Json,
            Some("sh" | "bash" | "zsh") => Lang::Shell,
            _ => Lang::Plain,
        }
    }

    /// A best guess from the text itself (no path known).
    pub fn guess(text: &str) -> Lang {
        let trimmed = text.trim_start();
        if (trimmed.starts_with('{') || trimmed.starts_with('['))
            && serde_json::from_str::<serde_json::Value>(trimmed).is_ok()
        {
            return Lang::Json;
        }
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .take(40)
            .collect();
        let first = lines.first().copied().unwrap_or_default();
        if text.starts_with("#!") || first.starts_with("set -") {
            return Lang::Shell;
        }
        if lines.iter().any(|l| {
            l.starts_with("FROM ") && lines.iter().any(|m| is_docker_instruction(m))
                || (l.starts_with("FROM ") && lines.len() == 1)
        }) {
            return Lang::Dockerfile;
        }
        const HCL_BLOCKS: [&str; 8] = [
            "resource \"",
            "data \"",
            "provider \"",
            "variable \"",
            "module \"",
            "output \"",
            "terraform {",
            "locals {",
        ];
        if lines
            .iter()
            .any(|l| HCL_BLOCKS.iter().any(|b| l.starts_with(b)))
        {
            return Lang::Hcl;
        }
        const CLIS: [&str; 6] = ["aws ", "az ", "gcloud ", "gsutil ", "kubectl ", "docker "];
        if CLIS.iter().any(|c| first.starts_with(c)) {
            return Lang::Shell;
        }
        if first == "---"
            || first.starts_with("apiVersion:")
            || (!lines.is_empty() && lines.iter().all(|l| looks_like_yaml(l)))
        {
            return Lang::Yaml;
        }
        Lang::Plain
    }

    /// The extension used to look the grammar up.
    fn grammar_key(self) -> Option<&'static str> {
        match self {
            Lang::Hcl => Some("tf"),
            Lang::Yaml => Some("yaml"),
            Lang::Json => Some("json"),
            Lang::Dockerfile => Some("Dockerfile"),
            Lang::Shell => Some("sh"),
            Lang::Plain => None,
        }
    }
}

fn is_docker_instruction(line: &str) -> bool {
    const INSTR: [&str; 12] = [
        "RUN ",
        "COPY ",
        "ADD ",
        "CMD ",
        "ENTRYPOINT ",
        "USER ",
        "WORKDIR ",
        "ENV ",
        "EXPOSE ",
        "ARG ",
        "LABEL ",
        "HEALTHCHECK ",
    ];
    INSTR.iter().any(|i| line.starts_with(i))
}

fn looks_like_yaml(line: &str) -> bool {
    if line.starts_with("- ") || line == "-" {
        return true;
    }
    match line.split_once(':') {
        Some((key, rest)) => {
            !key.is_empty()
                && !key.contains(' ')
                && !key.contains('"')
                && (rest.is_empty() || rest.starts_with(' '))
        }
        None => false,
    }
}

/// A 24-bit colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct Rgb(pub u8, pub u8, pub u8);

/// The style of one span.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SpanStyle {
    pub fg: Option<Rgb>,
    pub bg: Option<Rgb>,
    pub bold: bool,
    pub italic: bool,
    pub underline: bool,
}

/// One line of output: styled spans, no trailing newline.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct StyledLine {
    pub spans: Vec<(SpanStyle, String)>,
}

impl StyledLine {
    /// The line's text without styles.
    pub fn text(&self) -> String {
        self.spans.iter().map(|(_, t)| t.as_str()).collect()
    }

    /// The background a renderer should extend to the full width: the background of the
    /// first span (the `+`/`-` marker of a diff line), if it has one.
    pub fn fill_bg(&self) -> Option<Rgb> {
        self.spans.first().and_then(|(s, _)| s.bg)
    }

    fn plain(text: String, style: SpanStyle) -> StyledLine {
        StyledLine {
            spans: vec![(style, text)],
        }
    }
}

/// Errors from [`Highlighter::new`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HighlightError {
    #[error("unknown syntax theme {name:?} (known: {known})")]
    UnknownTheme { name: String, known: String },
}

static SYNTAXES: OnceLock<SyntaxSet> = OnceLock::new();
static THEMES: OnceLock<ThemeSet> = OnceLock::new();

fn syntaxes() -> &'static SyntaxSet {
    SYNTAXES.get_or_init(two_face::syntax::extra_newlines)
}

fn themes() -> &'static ThemeSet {
    THEMES.get_or_init(ThemeSet::load_defaults)
}

/// Load the grammars and themes now (they load once per process, on first use otherwise).
/// Call it from a background thread at start-up so the first highlight is not slow.
pub fn preload() {
    let _ = syntaxes();
    let _ = themes();
}

/// Diff colours, picked for a dark or a light syntax theme.
#[derive(Clone, Copy, Debug)]
struct DiffPalette {
    minus_bg: Rgb,
    plus_bg: Rgb,
    minus_emph: Rgb,
    plus_emph: Rgb,
    hunk_fg: Rgb,
    header_fg: Rgb,
}

const DARK_PALETTE: DiffPalette = DiffPalette {
    minus_bg: Rgb(0x3f, 0x00, 0x01),
    plus_bg: Rgb(0x00, 0x28, 0x00),
    minus_emph: Rgb(0x90, 0x10, 0x11),
    plus_emph: Rgb(0x00, 0x60, 0x00),
    hunk_fg: Rgb(0x88, 0xc0, 0xd0),
    header_fg: Rgb(0xe5, 0xc0, 0x7b),
};

const LIGHT_PALETTE: DiffPalette = DiffPalette {
    minus_bg: Rgb(0xff, 0xe0, 0xe0),
    plus_bg: Rgb(0xd0, 0xff, 0xd0),
    minus_emph: Rgb(0xff, 0xb0, 0xb0),
    plus_emph: Rgb(0x90, 0xe8, 0x90),
    hunk_fg: Rgb(0x00, 0x55, 0x99),
    header_fg: Rgb(0x80, 0x40, 0x00),
};

/// How many lines apart [`Highlighter::highlight_range`] keeps parser checkpoints.
const CHECKPOINT_EVERY: usize = 200;
/// How many texts [`Highlighter::highlight_range`] keeps checkpoints for.
const RANGE_CACHE_ENTRIES: usize = 4;

/// Parser state at the start of every `CHECKPOINT_EVERY`-th line of one text.
struct Checkpoints {
    key: (u64, usize, Lang),
    states: Vec<(HighlightState, ParseState)>,
}

/// Highlights code and diffs with one syntax theme. `Send + Sync`; cheap to create once the
/// grammars are loaded.
pub struct Highlighter {
    theme_name: String,
    /// `None`: the plain theme (no colours).
    theme: Option<Theme>,
    palette: DiffPalette,
    range_cache: Mutex<Vec<Checkpoints>>,
}

impl std::fmt::Debug for Highlighter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Highlighter")
            .field("theme", &self.theme_name)
            .finish()
    }
}

impl Highlighter {
    /// A highlighter with the named syntax theme ([`Highlighter::theme_names`]); `"none"` or
    /// `"plain"` give no colours.
    pub fn new(syntax_theme: &str) -> Result<Highlighter, HighlightError> {
        let (theme, palette) = if syntax_theme == PLAIN_THEME || syntax_theme == "plain" {
            (None, DARK_PALETTE)
        } else {
            let theme = themes().themes.get(syntax_theme).cloned().ok_or_else(|| {
                HighlightError::UnknownTheme {
                    name: crate::sanitize::one_line(syntax_theme),
                    known: Self::theme_names().join(", "),
                }
            })?;
            let palette = if theme_is_light(&theme) {
                LIGHT_PALETTE
            } else {
                DARK_PALETTE
            };
            (Some(theme), palette)
        };
        Ok(Highlighter {
            theme_name: syntax_theme.to_string(),
            theme,
            palette,
            range_cache: Mutex::new(Vec::new()),
        })
    }

    /// The theme names [`Highlighter::new`] accepts, `"none"` first.
    pub fn theme_names() -> Vec<String> {
        let mut names: Vec<String> = themes().themes.keys().cloned().collect();
        names.sort();
        names.insert(0, PLAIN_THEME.to_string());
        names
    }

    /// The theme this highlighter was made with.
    pub fn theme_name(&self) -> &str {
        &self.theme_name
    }

    /// Whether this highlighter produces colours at all.
    pub fn is_plain(&self) -> bool {
        self.theme.is_none()
    }

    fn syntax(&self, lang: Lang) -> Option<&'static SyntaxReference> {
        let key = lang.grammar_key()?;
        self.theme.as_ref()?;
        syntaxes().find_syntax_by_extension(key)
    }

    /// Highlight a text: one [`StyledLine`] per line, no trailing `'\n'`.
    pub fn highlight(&self, text: &str, lang: Lang) -> Vec<StyledLine> {
        let clean = crate::sanitize::text(text);
        let lines: Vec<String> = clean.lines().map(expand_tabs).collect();
        let mut out = Vec::with_capacity(lines.len());
        match (self.syntax(lang), &self.theme) {
            (Some(syntax), Some(theme)) => {
                let mut hl = HighlightLines::new(syntax, theme);
                for line in &lines {
                    out.push(highlight_one(&mut hl, line));
                }
            }
            _ => {
                for line in lines {
                    out.push(StyledLine::plain(line, SpanStyle::default()));
                }
            }
        }
        out
    }

    /// Highlight only `lines` of a text (for virtualized views of huge texts). The parser state
    /// at a line depends on everything before it, so the text is parsed from the start once;
    /// checkpoints every few hundred lines are cached for the last few texts, so scrolling
    /// re-parses at most one checkpoint interval.
    pub fn highlight_range(&self, text: &str, lang: Lang, lines: Range<usize>) -> Vec<StyledLine> {
        let clean = crate::sanitize::text(text);
        let all: Vec<&str> = clean.lines().collect();
        let end = lines.end.min(all.len());
        let start = lines.start.min(end);
        let (syntax, theme) = match (self.syntax(lang), &self.theme) {
            (Some(s), Some(t)) => (s, t),
            _ => {
                return all[start..end]
                    .iter()
                    .map(|l| StyledLine::plain(expand_tabs(l), SpanStyle::default()))
                    .collect();
            }
        };
        let key = {
            let mut h = DefaultHasher::new();
            clean.hash(&mut h);
            (h.finish(), clean.len(), lang)
        };
        let mut cache = match self.range_cache.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        let pos = match cache.iter().position(|c| c.key == key) {
            Some(p) => p,
            None => {
                if cache.len() >= RANGE_CACHE_ENTRIES {
                    cache.remove(0);
                }
                let hl = SynHighlighter::new(theme);
                cache.push(Checkpoints {
                    key,
                    states: vec![(
                        HighlightState::new(&hl, syntect::parsing::ScopeStack::new()),
                        ParseState::new(syntax),
                    )],
                });
                cache.len() - 1
            }
        };
        let entry = &mut cache[pos];
        // Extend checkpoints up to the one at or before `start`.
        let want = start / CHECKPOINT_EVERY;
        while entry.states.len() <= want {
            let idx = entry.states.len() - 1;
            let (hs, ps) = entry.states[idx].clone();
            let mut hl = HighlightLines::from_state(theme, hs, ps);
            let from = idx * CHECKPOINT_EVERY;
            for line in &all[from..(from + CHECKPOINT_EVERY).min(all.len())] {
                let with_nl = format!("{}\n", expand_tabs(line));
                let _ = hl.highlight_line(&with_nl, syntaxes());
            }
            let (hs, ps) = hl.state();
            entry.states.push((hs, ps));
        }
        let (hs, ps) = entry.states[want].clone();
        drop(cache);
        let mut hl = HighlightLines::from_state(theme, hs, ps);
        let mut out = Vec::with_capacity(end - start);
        for (i, line) in all
            .iter()
            .enumerate()
            .take(end)
            .skip(want * CHECKPOINT_EVERY)
        {
            let line = expand_tabs(line);
            let styled = highlight_one(&mut hl, &line);
            if i >= start {
                out.push(styled);
            }
        }
        out
    }

    /// Highlight a unified diff: file headers bold, hunk headers coloured, `-`/`+` lines on a
    /// red/green background with the changed tokens of paired lines emphasised (a stronger
    /// background; underlined under the plain theme). Each file's code is highlighted in the
    /// language of its `+++` path when that is known, else in `lang`.
    pub fn highlight_diff(&self, diff: &str, lang: Lang) -> Vec<StyledLine> {
        let clean = crate::sanitize::text(diff);
        let mut out = Vec::new();
        let mut state = DiffState::new(self, lang);
        let mut pending: Vec<(char, String)> = Vec::new();
        for raw in clean.lines() {
            let first = raw.chars().next();
            let is_change = matches!(first, Some('+' | '-'))
                && !raw.starts_with("+++ ")
                && !raw.starts_with("--- ");
            if is_change {
                let marker = if first == Some('+') { '+' } else { '-' };
                pending.push((marker, expand_tabs(&raw[1..])));
                continue;
            }
            if !pending.is_empty() {
                out.extend(state.changed_block(&pending));
                pending.clear();
            }
            out.push(state.other_line(raw));
        }
        if !pending.is_empty() {
            out.extend(state.changed_block(&pending));
        }
        out
    }
}

/// Is the theme's background light?
fn theme_is_light(theme: &Theme) -> bool {
    theme
        .settings
        .background
        .map(|c| {
            let lum = 0.299 * f64::from(c.r) + 0.587 * f64::from(c.g) + 0.114 * f64::from(c.b);
            lum > 128.0
        })
        .unwrap_or(false)
}

fn rgb(c: Color) -> Rgb {
    Rgb(c.r, c.g, c.b)
}

fn span_style(style: Style) -> SpanStyle {
    SpanStyle {
        fg: Some(rgb(style.foreground)),
        bg: None,
        bold: style.font_style.contains(FontStyle::BOLD),
        italic: style.font_style.contains(FontStyle::ITALIC),
        underline: style.font_style.contains(FontStyle::UNDERLINE),
    }
}

/// Highlight one line (without its newline); on a grammar error the line comes back unstyled.
fn highlight_one(hl: &mut HighlightLines<'_>, line: &str) -> StyledLine {
    let with_nl = format!("{line}\n");
    match hl.highlight_line(&with_nl, syntaxes()) {
        Ok(regions) => {
            let mut spans: Vec<(SpanStyle, String)> = Vec::with_capacity(regions.len());
            for (style, piece) in regions {
                let piece = piece.strip_suffix('\n').unwrap_or(piece);
                if piece.is_empty() {
                    continue;
                }
                let st = span_style(style);
                match spans.last_mut() {
                    Some((last, text)) if *last == st => text.push_str(piece),
                    _ => spans.push((st, piece.to_string())),
                }
            }
            StyledLine { spans }
        }
        Err(_) => StyledLine::plain(line.to_string(), SpanStyle::default()),
    }
}

/// Expand tabs to [`TAB_WIDTH`]-column stops.
fn expand_tabs(line: &str) -> String {
    if !line.contains('\t') {
        return line.to_string();
    }
    let mut out = String::with_capacity(line.len() + 8);
    let mut col = 0;
    for c in line.chars() {
        if c == '\t' {
            let n = TAB_WIDTH - col % TAB_WIDTH;
            out.extend(std::iter::repeat_n(' ', n));
            col += n;
        } else {
            out.push(c);
            col += unicode_width::UnicodeWidthChar::width(c).unwrap_or(0);
        }
    }
    out
}

/// Per-diff highlighting state: the current file's language and one parser per side (old
/// text: context and removed lines; new text: context and added lines), reset at each hunk.
struct DiffState<'h> {
    hl: &'h Highlighter,
    default_lang: Lang,
    lang: Lang,
    old: Option<HighlightLines<'h>>,
    new: Option<HighlightLines<'h>>,
}

impl<'h> DiffState<'h> {
    fn new(hl: &'h Highlighter, lang: Lang) -> DiffState<'h> {
        let mut s = DiffState {
            hl,
            default_lang: lang,
            lang,
            old: None,
            new: None,
        };
        s.reset();
        s
    }

    fn reset(&mut self) {
        let (old, new) = match (self.hl.syntax(self.lang), &self.hl.theme) {
            (Some(syntax), Some(theme)) => (
                Some(HighlightLines::new(syntax, theme)),
                Some(HighlightLines::new(syntax, theme)),
            ),
            _ => (None, None),
        };
        self.old = old;
        self.new = new;
    }

    fn code(&mut self, side: Side, text: &str) -> StyledLine {
        let hl = match side {
            Side::Old => self.old.as_mut(),
            Side::New => self.new.as_mut(),
        };
        match hl {
            Some(hl) => highlight_one(hl, text),
            None => StyledLine::plain(text.to_string(), SpanStyle::default()),
        }
    }

    fn meta_style(&self, fg: Rgb, bold: bool) -> SpanStyle {
        SpanStyle {
            fg: self.hl.theme.as_ref().map(|_| fg),
            bold,
            ..SpanStyle::default()
        }
    }

    /// A header, hunk header, context line or anything else that is not a `+`/`-` line.
    fn other_line(&mut self, raw: &str) -> StyledLine {
        let pal = self.hl.palette;
        if raw.starts_with("diff ") {
            self.lang = self.default_lang;
            self.reset();
            return StyledLine::plain(raw.to_string(), self.meta_style(pal.header_fg, true));
        }
        if let Some(path) = raw.strip_prefix("+++ ") {
            let path = path.strip_prefix("b/").unwrap_or(path);
            let from_path = Lang::from_path(Path::new(path.trim()));
            self.lang = if from_path == Lang::Plain {
                self.default_lang
            } else {
                from_path
            };
            self.reset();
            return StyledLine::plain(raw.to_string(), self.meta_style(pal.header_fg, true));
        }
        if raw.starts_with("--- ")
            || raw.starts_with("index ")
            || raw.starts_with("new file mode")
            || raw.starts_with("deleted file mode")
        {
            return StyledLine::plain(raw.to_string(), self.meta_style(pal.header_fg, true));
        }
        if let Some(after) = raw.strip_prefix("@@") {
            self.reset();
            // `@@ -a,b +c,d @@ section` — colour the range part, leave the section plain.
            let split = after.find("@@").map(|i| i + 4).unwrap_or(raw.len());
            let mut line = StyledLine::plain(
                raw[..split].to_string(),
                self.meta_style(pal.hunk_fg, false),
            );
            if split < raw.len() {
                line.spans
                    .push((SpanStyle::default(), raw[split..].to_string()));
            }
            return line;
        }
        if raw.starts_with('\\') {
            return StyledLine::plain(
                raw.to_string(),
                SpanStyle {
                    italic: true,
                    ..SpanStyle::default()
                },
            );
        }
        // Context line (leading space) or text outside the diff grammar.
        let (marker, content) = match raw.strip_prefix(' ') {
            Some(rest) => (" ", expand_tabs(rest)),
            None => ("", expand_tabs(raw)),
        };
        if let Some(old) = self.old.as_mut() {
            let _ = highlight_one(old, &content);
        }
        let mut line = self.code(Side::New, &content);
        if !marker.is_empty() {
            line.spans
                .insert(0, (SpanStyle::default(), marker.to_string()));
        }
        line
    }

    /// A run of consecutive `-`/`+` lines: the k-th removed line is paired with the k-th added
    /// line and their changed tokens are emphasised when the two are similar enough.
    fn changed_block(&mut self, block: &[(char, String)]) -> Vec<StyledLine> {
        let minus: Vec<usize> = (0..block.len()).filter(|&i| block[i].0 == '-').collect();
        let plus: Vec<usize> = (0..block.len()).filter(|&i| block[i].0 == '+').collect();
        let mut emph: Vec<Vec<Range<usize>>> = vec![Vec::new(); block.len()];
        for (&m, &p) in minus.iter().zip(plus.iter()) {
            if let Some((old_r, new_r)) = changed_tokens(&block[m].1, &block[p].1) {
                emph[m] = old_r;
                emph[p] = new_r;
            }
        }
        let pal = self.hl.palette;
        let plain = self.hl.theme.is_none();
        block
            .iter()
            .zip(emph)
            .map(|((marker, content), ranges)| {
                let (side, bg, emph_bg) = if *marker == '-' {
                    (Side::Old, pal.minus_bg, pal.minus_emph)
                } else {
                    (Side::New, pal.plus_bg, pal.plus_emph)
                };
                let code = self.code(side, content);
                let (bg, emph_bg) = if plain {
                    (None, None)
                } else {
                    (Some(bg), Some(emph_bg))
                };
                let mut spans = vec![(
                    SpanStyle {
                        bg,
                        bold: plain,
                        ..SpanStyle::default()
                    },
                    marker.to_string(),
                )];
                spans.extend(apply_backgrounds(code.spans, bg, emph_bg, &ranges, plain));
                StyledLine { spans }
            })
            .collect()
    }
}

#[derive(Clone, Copy)]
enum Side {
    Old,
    New,
}

/// Give every span `bg`, and the bytes inside `ranges` `emph_bg` (or an underline when `plain`).
fn apply_backgrounds(
    spans: Vec<(SpanStyle, String)>,
    bg: Option<Rgb>,
    emph_bg: Option<Rgb>,
    ranges: &[Range<usize>],
    plain: bool,
) -> Vec<(SpanStyle, String)> {
    let mut out: Vec<(SpanStyle, String)> = Vec::with_capacity(spans.len() + ranges.len() * 2);
    let mut push = |style: SpanStyle, text: &str| {
        if text.is_empty() {
            return;
        }
        match out.last_mut() {
            Some((last, t)) if *last == style => t.push_str(text),
            _ => out.push((style, text.to_string())),
        }
    };
    let mut offset = 0;
    for (style, text) in spans {
        let span_end = offset + text.len();
        let mut cut = offset;
        // Boundaries inside this span where emphasis starts or ends.
        let mut points: Vec<usize> = ranges
            .iter()
            .flat_map(|r| [r.start, r.end])
            .filter(|&p| p > offset && p < span_end && text.is_char_boundary(p - offset))
            .collect();
        points.push(span_end);
        points.sort_unstable();
        points.dedup();
        for p in points {
            let piece = &text[cut - offset..p - offset];
            let emphasised = ranges.iter().any(|r| r.start <= cut && cut < r.end);
            let mut st = style;
            if emphasised {
                st.bg = emph_bg;
                if plain {
                    st.underline = true;
                }
            } else {
                st.bg = bg;
            }
            push(st, piece);
            cut = p;
        }
        offset = span_end;
    }
    out
}

/// Split a line into tokens: runs of word characters, runs of whitespace, single others.
fn tokens(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut kind = 0u8; // 0 none, 1 word, 2 space
    for (i, c) in line.char_indices() {
        let k = if c.is_alphanumeric() || c == '_' {
            1
        } else if c.is_whitespace() {
            2
        } else {
            3
        };
        if i > start && (k != kind || k == 3) {
            out.push((start, &line[start..i]));
            start = i;
        }
        kind = k;
    }
    if start < line.len() {
        out.push((start, &line[start..]));
    }
    out
}

/// The byte ranges that differ between a removed and an added line, or `None` when the two
/// lines share too little for token emphasis to help (the whole line is then the change).
/// Changed byte ranges of the old and the new line.
type ChangedRanges = (Vec<Range<usize>>, Vec<Range<usize>>);

fn changed_tokens(old: &str, new: &str) -> Option<ChangedRanges> {
    use similar::{Algorithm, DiffOp, capture_diff_slices};
    let a = tokens(old);
    let b = tokens(new);
    let at: Vec<&str> = a.iter().map(|t| t.1).collect();
    let bt: Vec<&str> = b.iter().map(|t| t.1).collect();
    let ops = capture_diff_slices(Algorithm::Myers, &at, &bt);
    let byte_range = |toks: &[(usize, &str)], r: Range<usize>, len: usize| -> Range<usize> {
        let start = toks.get(r.start).map(|t| t.0).unwrap_or(len);
        let end = toks.get(r.end).map(|t| t.0).unwrap_or(len);
        start..end
    };
    let mut same = 0usize;
    let mut old_r = Vec::new();
    let mut new_r = Vec::new();
    for op in ops {
        match op {
            DiffOp::Equal { old_index, len, .. } => {
                same += at[old_index..old_index + len]
                    .iter()
                    .map(|t| t.len())
                    .sum::<usize>();
            }
            DiffOp::Delete {
                old_index, old_len, ..
            } => old_r.push(byte_range(&a, old_index..old_index + old_len, old.len())),
            DiffOp::Insert {
                new_index, new_len, ..
            } => new_r.push(byte_range(&b, new_index..new_index + new_len, new.len())),
            DiffOp::Replace {
                old_index,
                old_len,
                new_index,
                new_len,
            } => {
                old_r.push(byte_range(&a, old_index..old_index + old_len, old.len()));
                new_r.push(byte_range(&b, new_index..new_index + new_len, new.len()));
            }
        }
    }
    let longest = old.trim().len().max(new.trim().len()).max(1);
    // Leading indentation counts as shared only if there is more in common than that.
    let indent = old.len() - old.trim_start().len();
    let shared = same.saturating_sub(indent.min(same));
    if shared * 10 < longest * 3 {
        return None;
    }
    Some((merge_close(old, old_r), merge_close(new, new_r)))
}

/// Drop empty ranges and join ranges separated by at most two non-space characters (a lone
/// `.` or `"` that happens to be equal inside a changed run is noise, not information).
fn merge_close(line: &str, ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for r in ranges.into_iter().filter(|r| !r.is_empty()) {
        match out.last_mut() {
            Some(last)
                if r.start >= last.end
                    && r.start - last.end <= 2
                    && !line[last.end..r.start].contains(char::is_whitespace) =>
            {
                last.end = r.end;
            }
            _ => out.push(r),
        }
    }
    out
}

/// Whether to colour output: only on a terminal, and never when `NO_COLOR` is set to a
/// non-empty value (<https://no-color.org>). The environment is passed in so tests need none.
pub fn use_color(is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// The lines as text with 24-bit ANSI colours (one SGR per span, reset at each line end).
/// The span texts were sanitized by the highlighter, so the only escapes are the ones added here.
pub fn to_ansi(lines: &[StyledLine]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for line in lines {
        let mut styled = false;
        for (st, text) in &line.spans {
            if *st == SpanStyle::default() {
                if styled {
                    out.push_str("\x1b[0m");
                    styled = false;
                }
            } else {
                let mut sgr = String::from("0");
                if st.bold {
                    sgr.push_str(";1");
                }
                if st.italic {
                    sgr.push_str(";3");
                }
                if st.underline {
                    sgr.push_str(";4");
                }
                if let Some(Rgb(r, g, b)) = st.fg {
                    let _ = write!(sgr, ";38;2;{r};{g};{b}");
                }
                if let Some(Rgb(r, g, b)) = st.bg {
                    let _ = write!(sgr, ";48;2;{r};{g};{b}");
                }
                let _ = write!(out, "\x1b[{sgr}m");
                styled = true;
            }
            out.push_str(text);
        }
        if styled {
            out.push_str("\x1b[0m");
        }
        out.push('\n');
    }
    out
}

/// The lines as plain text, one per line.
pub fn to_plain(lines: &[StyledLine]) -> String {
    let mut out = String::new();
    for line in lines {
        for (_, text) in &line.spans {
            out.push_str(text);
        }
        out.push('\n');
    }
    out
}

/// A readable text form with style markers, for snapshot tests and debugging:
/// each span is `[fg/bg/biu]text` with `-` for an absent colour.
pub fn to_marked(lines: &[StyledLine]) -> String {
    use std::fmt::Write;
    let hex = |c: Option<Rgb>| match c {
        Some(Rgb(r, g, b)) => format!("{r:02x}{g:02x}{b:02x}"),
        None => "-".to_string(),
    };
    let mut out = String::new();
    for line in lines {
        for (st, text) in &line.spans {
            let flags: String = [(st.bold, 'b'), (st.italic, 'i'), (st.underline, 'u')]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, c)| *c)
                .collect();
            let _ = write!(out, "[{}/{}/{}]{}", hex(st.fg), hex(st.bg), flags, text);
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hl(theme: &str) -> Highlighter {
        Highlighter::new(theme).unwrap()
    }

    #[test]
    fn grammars_exist_for_every_language() {
        let h = hl("base16-ocean.dark");
        for lang in [
            Lang::Hcl,
            Lang::Yaml,
            Lang::Json,
            Lang::Dockerfile,
            Lang::Shell,
        ] {
            let syn = h.syntax(lang);
            assert!(syn.is_some(), "no grammar for {lang:?}");
        }
        assert!(h.syntax(Lang::Plain).is_none());
    }

    #[test]
    fn lang_from_path_and_guess() {
        assert_eq!(Lang::from_path(Path::new("infra/main.tf")), Lang::Hcl);
        assert_eq!(Lang::from_path(Path::new("k8s/dep.YML")), Lang::Yaml);
        assert_eq!(Lang::from_path(Path::new("cf/stack.json")), Lang::Json);
        assert_eq!(
            Lang::from_path(Path::new("app/Dockerfile")),
            Lang::Dockerfile
        );
        assert_eq!(
            Lang::from_path(Path::new("Dockerfile.prod")),
            Lang::Dockerfile
        );
        assert_eq!(Lang::from_path(Path::new("fix.sh")), Lang::Shell);
        assert_eq!(Lang::from_path(Path::new("README")), Lang::Plain);

        assert_eq!(Lang::guess("{\"a\": [1, 2]}"), Lang::Json);
        assert_eq!(
            Lang::guess("resource \"aws_s3_bucket\" \"b\" {\n}\n"),
            Lang::Hcl
        );
        assert_eq!(
            Lang::guess("FROM alpine:3.18\nRUN apk add curl\n"),
            Lang::Dockerfile
        );
        assert_eq!(Lang::guess("apiVersion: v1\nkind: Pod\n"), Lang::Yaml);
        assert_eq!(
            Lang::guess("aws s3api put-public-access-block --bucket b"),
            Lang::Shell
        );
        assert_eq!(Lang::guess("just some words here"), Lang::Plain);
        assert_eq!(Lang::guess("{not json"), Lang::Plain);
    }

    #[test]
    fn unknown_theme_is_a_clear_error() {
        let err = Highlighter::new("no-such-theme").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("no-such-theme"), "{msg}");
        assert!(msg.contains("base16-ocean.dark"), "{msg}");
        assert!(Highlighter::theme_names().contains(&"InspiredGitHub".to_string()));
        assert_eq!(Highlighter::theme_names()[0], "none");
    }

    #[test]
    fn highlight_keeps_text_and_colours_tokens() {
        let h = hl("base16-ocean.dark");
        let src = "{\n\t\"a\": 1,\n  \"b\": \"x\"\n}\n";
        let lines = h.highlight(src, Lang::Json);
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1].text(), "    \"a\": 1,");
        assert_eq!(lines[3].text(), "}");
        // The key and the number get different colours.
        let styles: std::collections::HashSet<_> =
            lines[1].spans.iter().map(|(s, _)| s.fg).collect();
        assert!(styles.len() >= 2, "{:?}", lines[1]);
    }

    #[test]
    fn plain_theme_has_no_colours() {
        let h = hl("none");
        let lines = h.highlight("resource \"a\" \"b\" {}\n", Lang::Hcl);
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0]
                .spans
                .iter()
                .all(|(s, _)| s.fg.is_none() && s.bg.is_none())
        );
    }

    #[test]
    fn escape_sequences_never_survive() {
        for theme in ["none", "base16-ocean.dark"] {
            let h = hl(theme);
            let evil = "name: \"x\x1b]0;pwned\x07\x1b[2J\u{9b}31m\u{202e}y\"\n";
            for lines in [
                h.highlight(evil, Lang::Yaml),
                h.highlight_diff(&format!("@@ -1 +1 @@\n-{evil}+{evil}"), Lang::Yaml),
                h.highlight_range(evil, Lang::Yaml, 0..1),
            ] {
                let ansi = to_ansi(&lines);
                let plain = to_plain(&lines);
                assert!(
                    !plain.contains('\x1b') && !plain.contains('\u{9b}'),
                    "{plain:?}"
                );
                assert!(!plain.contains("pwned"));
                assert!(!plain.contains('\u{202e}'));
                // The only escapes in the ANSI form are our SGRs.
                for part in ansi.split('\x1b').skip(1) {
                    assert!(part.starts_with('['), "{part:?}");
                    let end = part.find('m').unwrap();
                    assert!(part[1..end].chars().all(|c| c.is_ascii_digit() || c == ';'));
                }
            }
        }
    }

    #[test]
    fn range_matches_full_highlight() {
        let h = hl("base16-ocean.dark");
        let mut text = String::new();
        for i in 0..1000 {
            text.push_str(&format!(
                "resource \"aws_s3_bucket\" \"b{i}\" {{\n  bucket = \"b{i}\"\n  /* c\n  */\n}}\n"
            ));
        }
        let full = h.highlight(&text, Lang::Hcl);
        for range in [0..10, 195..410, 4990..5000, 4999..6000, 7000..7001] {
            let part = h.highlight_range(&text, Lang::Hcl, range.clone());
            let end = range.end.min(full.len());
            let start = range.start.min(end);
            assert_eq!(part, full[start..end].to_vec(), "range {range:?}");
        }
    }

    #[test]
    fn diff_lines_get_backgrounds_and_token_emphasis() {
        let h = hl("base16-ocean.dark");
        let diff = "diff --git a/main.tf b/main.tf\n--- a/main.tf\n+++ b/main.tf\n@@ -1,3 +1,3 @@ resource\n resource \"aws_s3_bucket_acl\" \"b\" {\n-  acl = \"public-read\"\n+  acl = \"private\"\n }\n";
        let lines = h.highlight_diff(diff, Lang::Plain);
        assert_eq!(lines.len(), 8);
        assert_eq!(to_plain(&lines), diff);
        assert!(lines[0].spans[0].0.bold);
        assert_eq!(lines[3].spans[0].0.fg, Some(DARK_PALETTE.hunk_fg));
        let minus = &lines[5];
        let plus = &lines[6];
        assert_eq!(minus.fill_bg(), Some(DARK_PALETTE.minus_bg));
        assert_eq!(plus.fill_bg(), Some(DARK_PALETTE.plus_bg));
        let emph: String = plus
            .spans
            .iter()
            .filter(|(s, _)| s.bg == Some(DARK_PALETTE.plus_emph))
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(emph, "private");
        let emph_old: String = minus
            .spans
            .iter()
            .filter(|(s, _)| s.bg == Some(DARK_PALETTE.minus_emph))
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(emph_old, "public-read");
        // Unchanged tokens keep the plain line background.
        assert!(
            plus.spans
                .iter()
                .any(|(s, t)| t.contains("acl") && s.bg == Some(DARK_PALETTE.plus_bg))
        );
    }

    #[test]
    fn dissimilar_lines_are_not_token_emphasised() {
        assert!(changed_tokens("  enabled = false", "  replicas = [1, 2, 3]").is_none());
        let (o, n) = changed_tokens("image: nginx:1.19", "image: nginx:1.25").unwrap();
        assert_eq!(&"image: nginx:1.19"[o[0].clone()], "19");
        assert_eq!(&"image: nginx:1.25"[n[0].clone()], "25");
    }

    #[test]
    fn plain_theme_diff_underlines_changed_tokens() {
        let h = hl("none");
        let lines = h.highlight_diff("@@ -1 +1 @@\n-a = 1\n+a = 2\n", Lang::Hcl);
        assert!(
            lines
                .iter()
                .flat_map(|l| &l.spans)
                .all(|(s, _)| s.fg.is_none() && s.bg.is_none())
        );
        assert!(lines[2].spans.iter().any(|(s, t)| s.underline && t == "2"));
    }

    #[test]
    fn light_theme_gets_light_diff_palette() {
        let h = hl("InspiredGitHub");
        let lines = h.highlight_diff("@@ -1 +1 @@\n-x\n+y\n", Lang::Plain);
        assert_eq!(lines[1].fill_bg(), Some(LIGHT_PALETTE.minus_bg));
    }

    #[test]
    fn color_only_on_terminal_without_no_color() {
        use std::ffi::OsStr;
        assert!(use_color(true, None));
        assert!(use_color(true, Some(OsStr::new(""))));
        assert!(!use_color(true, Some(OsStr::new("1"))));
        assert!(!use_color(false, None));
    }

    #[test]
    fn highlighter_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Highlighter>();
    }
}
