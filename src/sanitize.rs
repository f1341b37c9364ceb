//! The one place untrusted text is made safe for a terminal, an export or a ticket.
//!
//! Vendor payloads, LLM output, config files and ticket systems are untrusted. Before any of
//! their text is printed, exported or sent on, it goes through [`clean`]:
//!
//! 1. Escape sequences are removed **whole**, not just their ESC byte: CSI, OSC, DCS, SOS, PM
//!    and APC in their 7-bit (`ESC [`, `ESC ]`, `ESC P`, `ESC X`, `ESC ^`, `ESC _`) and 8-bit
//!    (U+009B, U+009D, U+0090, U+0098, U+009E, U+009F) forms, and two-byte `ESC x` sequences.
//! 2. Every other C0/C1 control and DEL is removed, except `\n` and `\t`.
//! 3. Bidi controls (U+061C, U+200E/F, U+202A–E, U+2066–9) and zero-width characters
//!    (U+200B–D, U+2060, U+FEFF, U+180E) are removed.
//!
//! Each removal is counted in [`Findings`], because vendor text that carries such characters
//! is itself suspicious: the import flags the alert. Raw bytes stay in the store only.

use std::borrow::Cow;

/// What [`clean`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Findings {
    pub escapes: usize,
    pub controls: usize,
    pub bidi: usize,
    pub zero_width: usize,
}

impl Findings {
    pub fn any(&self) -> bool {
        self.escapes + self.controls + self.bidi + self.zero_width > 0
    }

    pub fn add(&mut self, other: Findings) {
        self.escapes += other.escapes;
        self.controls += other.controls;
        self.bidi += other.bidi;
        self.zero_width += other.zero_width;
    }
}

fn is_bidi(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn is_zero_width(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{180E}'
    )
}

/// Anything that needs the slow path: a control, DEL, or a character in a suspicious range.
fn is_suspicious(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || is_bidi(c) || is_zero_width(c)
}

/// String terminator of OSC/DCS/SOS/PM/APC: BEL (OSC only, but accepted for all as xterm does),
/// `ESC \`, or the 8-bit ST U+009C.
fn skip_string_body(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{07}' | '\u{9C}' => return,
            '\u{1B}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                return;
            }
            _ => {}
        }
    }
}

/// CSI parameters and intermediates up to and including the final byte (0x40–0x7E).
fn skip_csi_body(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(&c) = chars.peek() {
        if ('\u{30}'..='\u{3F}').contains(&c) || ('\u{20}'..='\u{2F}').contains(&c) {
            chars.next();
        } else {
            if ('\u{40}'..='\u{7E}').contains(&c) {
                chars.next();
            }
            return;
        }
    }
}

/// Remove escape sequences, controls (but `\n`, `\t`), bidi and zero-width characters.
pub fn clean(input: &str) -> (Cow<'_, str>, Findings) {
    let mut findings = Findings::default();
    if !input.chars().any(is_suspicious) {
        return (Cow::Borrowed(input), findings);
    }
    let mut out = String::with_capacity(input.len());
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1B}' => {
                findings.escapes += 1;
                match chars.peek().copied() {
                    Some('[') => {
                        chars.next();
                        skip_csi_body(&mut chars);
                    }
                    Some(']' | 'P' | 'X' | '^' | '_') => {
                        chars.next();
                        skip_string_body(&mut chars);
                    }
                    Some(n) if ('\u{20}'..='\u{2F}').contains(&n) => {
                        // nF sequence: intermediates then one final byte.
                        while let Some(&i) = chars.peek() {
                            if ('\u{20}'..='\u{2F}').contains(&i) {
                                chars.next();
                            } else {
                                break;
                            }
                        }
                        if chars
                            .peek()
                            .is_some_and(|f| ('\u{30}'..='\u{7E}').contains(f))
                        {
                            chars.next();
                        }
                    }
                    Some(n) if ('\u{30}'..='\u{7E}').contains(&n) => {
                        chars.next();
                    }
                    _ => {}
                }
            }
            '\u{9B}' => {
                findings.escapes += 1;
                skip_csi_body(&mut chars);
            }
            '\u{9D}' | '\u{90}' | '\u{98}' | '\u{9E}' | '\u{9F}' => {
                findings.escapes += 1;
                skip_string_body(&mut chars);
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control() => findings.controls += 1,
            c if is_bidi(c) => findings.bidi += 1,
            c if is_zero_width(c) => findings.zero_width += 1,
            c => out.push(c),
        }
    }
    (Cow::Owned(out), findings)
}

/// Would [`clean`] change this text? (No allocation.)
pub fn is_suspicious_text(input: &str) -> bool {
    // Printable ASCII, newline and tab (nearly every vendor string) need no char decoding.
    !plain_ascii(input.as_bytes()) && input.chars().any(is_suspicious)
}

/// Only printable ASCII, `\n` and `\t`: nothing [`is_suspicious`] flags. Branch-free per byte
/// over chunks, so the compiler vectorizes it.
pub(crate) fn plain_ascii(b: &[u8]) -> bool {
    let odd = |c: u8| ((c < 0x20) & (c != b'\n') & (c != b'\t')) | (c >= 0x7f);
    let mut chunks = b.chunks_exact(32);
    for chunk in &mut chunks {
        if chunk.iter().fold(false, |acc, &c| acc | odd(c)) {
            return false;
        }
    }
    !chunks.remainder().iter().any(|&c| odd(c))
}

/// Does any string (or key) in this JSON value carry what [`clean`] removes?
pub fn json_is_suspicious(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => is_suspicious_text(s),
        Value::Array(a) => a.iter().any(json_is_suspicious),
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| is_suspicious_text(k) || json_is_suspicious(v)),
        _ => false,
    }
}

/// [`clean`], keeping only the text.
pub fn text(input: &str) -> Cow<'_, str> {
    clean(input).0
}

/// Clean text for a single-line cell: newlines and tabs become spaces, runs of spaces collapse.
pub fn one_line(input: &str) -> String {
    let cleaned = text(input);
    let mut out = String::with_capacity(cleaned.len());
    let mut last_space = false;
    for c in cleaned.chars() {
        let c = if c == '\n' || c == '\t' { ' ' } else { c };
        if c == ' ' {
            if !last_space && !out.is_empty() {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
    if out.ends_with(' ') {
        out.pop();
    }
    out
}

/// Walk a JSON value and clean every string (keys too). Findings are accumulated.
pub fn json(value: &serde_json::Value, findings: &mut Findings) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => {
            let (t, f) = clean(s);
            findings.add(f);
            Value::String(t.into_owned())
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| json(v, findings)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let (kt, f) = clean(k);
                    findings.add(f);
                    (kt.into_owned(), json(v, findings))
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A CSV field: cleaned, kept on one line, guarded against spreadsheet formula injection
/// (a leading `=`, `+`, `-`, `@`, tab or CR gets a `'` prefix, as OWASP advises), and quoted
/// per RFC 4180 when needed.
pub fn csv_field(input: &str) -> String {
    let mut s = one_line(input);
    if s.starts_with(['=', '+', '-', '@']) {
        s.insert(0, '\'');
    }
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// A Markdown table cell: cleaned, one line, with the characters that would break the table
/// or inject markup escaped.
pub fn markdown_cell(input: &str) -> String {
    markdown_inline(&one_line(input))
}

/// Inline Markdown text: cleaned, with markup characters escaped so vendor text cannot
/// inject links, images, HTML or emphasis into a rendered report.
pub fn markdown_inline(input: &str) -> String {
    let cleaned = text(input);
    let mut out = String::with_capacity(cleaned.len() + 8);
    for c in cleaned.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("  \n"),
            _ => out.push(c),
        }
    }
    out
}

/// Truncate to at most `max` display columns, marking the cut with `…`.
pub fn fit(input: &str, max: usize) -> String {
    use unicode_width::UnicodeWidthChar;
    let total: usize = input.chars().map(|c| c.width().unwrap_or(0)).sum();
    if total <= max {
        return input.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut w = 0;
    for c in input.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > max - 1 {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    out
}

/// Display width of a string in terminal columns.
pub fn width(input: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_controls(s: &str) -> bool {
        !s.chars()
            .any(|c| (c.is_control() && c != '\n' && c != '\t') || is_bidi(c) || is_zero_width(c))
    }

    /// The ASCII fast path never hides what the char-by-char check finds, at any offset.
    #[test]
    fn suspicious_text_fast_path_agrees_with_the_char_walk() {
        let odd = [
            "",
            "\n",
            "\t",
            "\r",
            "\u{7}",
            "\u{1b}[31m",
            "\u{7f}",
            "\u{9b}",
            "\u{202e}",
            "\u{200b}",
            "\u{feff}",
            "é",
            "漢字",
            "🚀",
            "~",
            " ",
        ];
        for o in odd {
            for pad in 0..70 {
                for tail in [0, 1, 31, 33] {
                    let s = format!("{}{o}{}", "a".repeat(pad), "b".repeat(tail));
                    assert_eq!(
                        is_suspicious_text(&s),
                        s.chars().any(is_suspicious),
                        "{s:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn plain_text_is_borrowed_untouched() {
        let (t, f) = clean("AWS EC2 i-0abc open to 0.0.0.0/0\nline two\tcol");
        assert!(matches!(t, Cow::Borrowed(_)));
        assert!(!f.any());
        let (t, _) = clean("日本語 ok — naïve");
        assert_eq!(t, "日本語 ok — naïve");
    }

    #[test]
    fn csi_sequences_are_removed_whole() {
        let (t, f) = clean("I \x1b[0;36mwas\x1b[0m here!");
        assert_eq!(t, "I was here!");
        assert_eq!(f.escapes, 2);
        assert_eq!(text("\x1b[2J\x1b[1;1Hclear"), "clear");
        assert_eq!(text("a\x1b[?1049hb"), "ab");
    }

    #[test]
    fn osc_dcs_apc_pm_sos_strings_are_removed_whole() {
        assert_eq!(text("x\x1b]0;pwned title\x07y"), "xy");
        assert_eq!(
            text("x\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\y"),
            "xlinky"
        );
        assert_eq!(text("x\x1bP+q544e\x1b\\y"), "xy");
        assert_eq!(text("x\x1b_apc payload\x1b\\y"), "xy");
        assert_eq!(text("x\x1b^pm\x1b\\y"), "xy");
        assert_eq!(text("x\x1bXsos\x1b\\y"), "xy");
        // OSC 52 clipboard write
        assert_eq!(text("a\x1b]52;c;Y3VybCBldmlsfHNo\x07b"), "ab");
    }

    #[test]
    fn eight_bit_forms_are_removed_whole() {
        assert_eq!(text("a\u{9b}31mred\u{9b}0mb"), "aredb");
        assert_eq!(text("a\u{9d}0;title\u{9c}b"), "ab");
        assert_eq!(text("a\u{90}dcs\u{9c}b"), "ab");
        assert_eq!(text("a\u{9f}apc\u{9c}b"), "ab");
        assert_eq!(text("a\u{85}b"), "ab");
    }

    #[test]
    fn two_byte_and_nf_escapes() {
        assert_eq!(text("a\x1bcb"), "ab"); // RIS
        assert_eq!(text("a\x1b(0b"), "ab"); // charset
        assert_eq!(text("a\x1b#8b"), "ab"); // DECALN
        assert_eq!(text("trailing\x1b"), "trailing");
    }

    #[test]
    fn controls_bidi_and_zero_width_are_removed_and_counted() {
        let (t, f) = clean("ad\rmin\x08\x07\x00\x7f");
        assert_eq!(t, "admin");
        assert_eq!(f.controls, 5);
        let (t, f) = clean("file\u{202E}gpj.exe\u{2066}x\u{2069}");
        assert_eq!(t, "filegpj.exex");
        assert_eq!(f.bidi, 3);
        let (t, f) = clean("ad\u{200B}min\u{FEFF}\u{200D}");
        assert_eq!(t, "admin");
        assert_eq!(f.zero_width, 3);
        assert!(f.any());
    }

    #[test]
    fn every_codepoint_below_0xa0_and_the_suspicious_ranges_leave_nothing_behind() {
        let mut s = String::new();
        for cp in (0u32..0xA0)
            .chain(0x2000..0x2070)
            .chain([0x061C, 0xFEFF, 0x180E])
        {
            if let Some(c) = char::from_u32(cp) {
                s.push(c);
                s.push('x');
            }
        }
        let out = text(&s);
        assert!(no_controls(&out), "left: {out:?}");
    }

    #[test]
    fn one_line_and_csv_and_markdown() {
        assert_eq!(one_line("  a\n\tb   c \x1b[31m"), "a b c");
        assert_eq!(
            csv_field("=HYPERLINK(\"http://x\")"),
            "\"'=HYPERLINK(\"\"http://x\"\")\""
        );
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("@SUM(1)"), "'@SUM(1)");
        assert_eq!(
            markdown_cell("a|b [x](http://e) <img>"),
            "a\\|b \\[x\\](http://e) \\<img\\>"
        );
    }

    #[test]
    fn json_strings_and_keys_are_cleaned() {
        let v = serde_json::json!({"k\x1b[1m": ["a\u{202e}b", {"t": "x\x1b]0;t\x07"}], "n": 1});
        let mut f = Findings::default();
        let out = json(&v, &mut f);
        assert_eq!(out, serde_json::json!({"k": ["ab", {"t": "x"}], "n": 1}));
        assert_eq!(f.escapes, 2);
        assert_eq!(f.bidi, 1);
    }

    #[test]
    fn suspicion_checks_agree_with_clean() {
        for s in [
            "plain",
            "a\x1b[1mb",
            "x\u{202e}y",
            "z\u{200b}",
            "tab\tnew\nline",
            "\u{9b}",
        ] {
            assert_eq!(is_suspicious_text(s), clean(s).1.any(), "{s:?}");
        }
        assert!(json_is_suspicious(
            &serde_json::json!({"a": [1, {"b": "x\u{7}"}]})
        ));
        assert!(json_is_suspicious(&serde_json::json!({"k\u{1b}": 1})));
        assert!(!json_is_suspicious(
            &serde_json::json!({"a": ["ok", 2, null]})
        ));
    }

    #[test]
    fn fit_respects_display_width() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
        assert_eq!(fit("日本語テキスト", 5), "日本…");
        assert_eq!(width("日本"), 4);
    }
}
