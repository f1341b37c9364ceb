//! Words as the text index splits them (FTS5's `unicode61 remove_diacritics 2`), and a text
//! term tested against one alert's own columns: the SQLite store's `sitrep_text()` SQL
//! function, for a page that walks an order's index and tests each row it reads (FTS5 would
//! expand a prefix such as `host*` into every match again for each row), and the team store's
//! word lists (store/team/text.rs). docs/filter-language.md says where the two can differ.

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use unicode_normalization::char::{decompose_canonical, is_combining_mark};

use crate::sanitize;

/// The words of `s` as unicode61 makes them: runs of letters and digits (combining marks and
/// everything else separate words), lower-cased, diacritics removed.
pub(super) fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    each_word(&[s], |w| {
        out.push(w.to_string());
        true
    });
    out
}

/// Calls `f` with each word ([`words`]) of `parts` read as one text with a space between
/// them, until it returns false. One buffer for the whole walk: a row's test allocates once.
fn each_word(parts: &[&str], mut f: impl FnMut(&str) -> bool) {
    let mut word = String::new();
    for part in parts {
        for c in part.chars() {
            if c.is_ascii() {
                if c.is_ascii_alphanumeric() {
                    word.push(c.to_ascii_lowercase());
                    continue;
                }
            } else if c.is_alphanumeric() && !is_combining_mark(c) {
                for l in c.to_lowercase() {
                    decompose_canonical(l, |b| {
                        if !is_combining_mark(b) {
                            word.push(b);
                        }
                    });
                }
                continue;
            }
            if !word.is_empty() {
                if !f(&word) {
                    return;
                }
                word.clear();
            }
        }
        if !word.is_empty() {
            if !f(&word) {
                return;
            }
            word.clear();
        }
    }
}

/// A filter's text term as FTS5 reads `"…"*` (`phrase` false: the last word a prefix) or
/// `"…"`: its words in sequence within one indexed column.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TextTerm {
    words: Vec<String>,
    phrase: bool,
}

impl TextTerm {
    pub(super) fn new(text: &str, phrase: bool) -> TextTerm {
        TextTerm {
            words: words(text),
            phrase,
        }
    }

    /// Whether one column's text holds the term. A term without words matches nothing, as
    /// in FTS5.
    pub(super) fn in_column(&self, text: &str) -> bool {
        self.in_parts(&[text])
    }

    /// [`TextTerm::in_column`] of `parts` joined by spaces, without joining them.
    fn in_parts(&self, parts: &[&str]) -> bool {
        let Some((last, lead)) = self.words.split_last() else {
            return false;
        };
        let k = lead.len();
        // The last `k` words before the current one, in a ring (a phrase only).
        let mut ring: Vec<String> = Vec::new();
        let mut seen = 0usize;
        let mut found = false;
        each_word(parts, |w| {
            let ends = if self.phrase {
                w == last
            } else {
                w.starts_with(last.as_str())
            };
            if ends && seen >= k {
                found = (0..k).all(|i| ring[(seen - k + i) % k] == lead[i]);
                if found {
                    return false;
                }
            }
            if k > 0 {
                match ring.get_mut(seen % k) {
                    Some(s) => {
                        s.clear();
                        s.push_str(w);
                    }
                    None => ring.push(w.to_string()),
                }
            }
            seen += 1;
            true
        });
        found
    }

    /// Whether the indexed column made of `parts` ([`index_text`]) holds the term. Parts
    /// the sanitizer would change (controls, escapes, bidi and zero-width characters: taking
    /// one out can join two words) are cleaned first, as the index's text was.
    fn in_indexed(&self, parts: &[&str]) -> bool {
        if !self.may_be_in(parts) {
            return false;
        }
        if parts.iter().any(|p| sanitize::is_suspicious_text(p)) {
            let parts: Vec<Option<&str>> = parts.iter().map(|p| Some(*p)).collect();
            return self.in_column(&index_text(&parts));
        }
        self.in_parts(parts)
    }

    /// A quick "no" for most rows a walk tests (splitting a row into words costs ~1 µs):
    /// printable ASCII is left as is by the sanitizer and folds by ASCII lower-casing, so a
    /// word that is (or starts with) the term's last word puts it in the text as it stands,
    /// in any case. False only when every part is such text without that substring.
    fn may_be_in(&self, parts: &[&str]) -> bool {
        let Some(last) = self.words.last().filter(|w| w.is_ascii()) else {
            return true;
        };
        parts
            .iter()
            .any(|p| !sanitize::plain_ascii(p.as_bytes()) || holds_ascii_ci(p.as_bytes(), last))
    }
}

/// Whether `hay` holds `needle` (lower-case ASCII) in any ASCII case.
fn holds_ascii_ci(hay: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let upper = first.to_ascii_uppercase();
    hay.iter().enumerate().any(|(i, &b)| {
        (b == first || b == upper)
            && hay
                .get(i + 1..i + 1 + rest.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(rest))
    })
}

/// One column of the text index from an alert's parts (title; resource id, name, type;
/// policy id, name): also what the team store's index is built from (store/team/text.rs).
pub(super) fn index_text(parts: &[Option<&str>]) -> String {
    sanitize::one_line(
        &parts
            .iter()
            .flatten()
            .copied()
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// The name of the SQL function [`register`] adds: `sitrep_text(text, phrase, title,
/// resource_id, resource_name, resource_type, policy_id, policy_name)` is 1 when the alert's
/// title, resource or policy (the three columns of `alerts_fts`, built from the same values
/// by [`index_text`]) holds the term, else 0.
pub(super) const SQL_FUNCTION: &str = "sitrep_text";

/// Add [`SQL_FUNCTION`] to `conn`. The term is parsed once per statement (SQLite keeps it
/// with the constant argument).
pub(super) fn register(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        SQL_FUNCTION,
        8,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let phrase = ctx.get::<bool>(1)?;
            let term = ctx.get_or_create_aux(0, |v| -> rusqlite::Result<TextTerm> {
                Ok(TextTerm::new(v.as_str()?, phrase))
            })?;
            // Borrowed from SQLite's row: no copy of the columns per row.
            let text = |i: usize| -> rusqlite::Result<Option<&str>> {
                match ctx.get_raw(i) {
                    ValueRef::Null => Ok(None),
                    v => v.as_str().map(Some).map_err(Into::into),
                }
            };
            let mut parts: Vec<&str> = Vec::with_capacity(3);
            for column in [&[2usize][..], &[3, 4, 5], &[6, 7]] {
                parts.clear();
                for &i in column {
                    parts.extend(text(i)?);
                }
                if term.in_indexed(&parts) {
                    return Ok(true);
                }
            }
            Ok(false)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_fold_and_drop_diacritics() {
        assert_eq!(words("Public S3 bucket"), ["public", "s3", "bucket"]);
        assert_eq!(
            words("arn:aws:s3:::prod-data_bucket"),
            ["arn", "aws", "s3", "prod", "data", "bucket"]
        );
        assert_eq!(words("Café NAÏVE"), ["cafe", "naive"]);
        assert_eq!(words("x\u{301}"), ["x"]);
        assert!(words("\u{345}").is_empty());
        assert!(words("' -- ;").is_empty());
    }

    #[test]
    fn a_term_matches_words_in_sequence_the_last_a_prefix() {
        let t = |text: &str, phrase: bool, col: &str| TextTerm::new(text, phrase).in_column(col);
        assert!(t("host", false, "db-prod-1 host-prod-7"));
        assert!(t("host", false, "hostname"));
        assert!(!t("host", true, "hostname"));
        assert!(t("host", true, "a HOST b"));
        assert!(!t("ost", false, "host"));
        assert!(t("prod-data", false, "arn:aws:s3:::prod-database"));
        assert!(!t("prod-data", true, "arn:aws:s3:::prod-database"));
        assert!(!t("prod data", false, "data prod"));
        assert!(t("a b c", false, "a b a b cat"));
        assert!(!t("a b c", false, "a b x c"));
        assert!(t("café", true, "CAFE au lait"));
        assert!(!t("' --", false, "' -- anything"));
        assert!(!t("host", false, ""));
    }

    /// A column read in parts matches what the same parts joined (the index's text) match,
    /// phrases across the parts' seams and text the sanitizer changes included.
    #[test]
    fn parts_match_as_their_joined_text() {
        let cases: [&[&str]; 5] = [
            &["i-0abc", "host-prod-7", "AWS::EC2::Instance"],
            &["arn:aws:s3:::prod", "data-bucket"],
            &["ho\u{200B}st-1", "web"],
            &["\u{1b}[31mhost\u{1b}[0m", "x"],
            &["", "Café", "naïve"],
        ];
        for parts in cases {
            let joined = index_text(&parts.iter().map(|p| Some(*p)).collect::<Vec<_>>());
            for (text, phrase) in [
                ("host", false),
                ("prod data", false),
                ("prod data", true),
                ("i 0abc host", false),
                ("instance", true),
                ("cafe naive", true),
                ("31mhost", false),
                ("ho", true),
            ] {
                let term = TextTerm::new(text, phrase);
                assert_eq!(
                    term.in_indexed(parts),
                    term.in_column(&joined),
                    "{text:?} {phrase} in {parts:?} (joined {joined:?})"
                );
            }
        }
        assert!(TextTerm::new("prod data", true).in_indexed(&["arn:aws:s3:::prod", "data-x"]));
        assert!(TextTerm::new("host", true).in_indexed(&["ho\u{200B}st-1"]));
    }

    /// The substring check before the word split only ever says no when the split would:
    /// any ASCII case, a prefix, a word whose fold is ASCII (`café`), text the sanitizer
    /// changes, and a last word matched only late in the text.
    #[test]
    fn the_quick_no_agrees_with_the_word_split() {
        let columns: [&[&str]; 9] = [
            &["Web-Prod-1", "AWS::EC2::Instance"],
            &["HOSTNAME db-1"],
            &["ghost-prod-2", "x"],
            &["h", "hhhost"],
            &["CAFÉ", "naïve"],
            &["Cafe", "naive"],
            &["ho\u{1b}[0mst-1"],
            &["a\u{200B}b"],
            &[""],
        ];
        let terms = [
            ("host", false),
            ("host", true),
            ("HOST", false),
            ("prod", false),
            ("café", true),
            ("naive", false),
            ("db 1", true),
            ("ab", true),
            ("漢", false),
            ("hhh", false),
        ];
        let mut quick_noes = 0;
        for parts in columns {
            let joined = index_text(&parts.iter().map(|p| Some(*p)).collect::<Vec<_>>());
            for (text, phrase) in terms {
                let term = TextTerm::new(text, phrase);
                let full = term.in_column(&joined);
                assert_eq!(
                    term.in_indexed(parts),
                    full,
                    "{text:?} {phrase} in {parts:?}"
                );
                if !term.may_be_in(parts) {
                    assert!(!full, "{text:?} {phrase}: quick no for {parts:?}");
                    quick_noes += 1;
                }
            }
        }
        assert!(quick_noes > 30, "the quick no is not taken: {quick_noes}");
        assert!(holds_ascii_ci(b"xHoSt", "host"));
        assert!(!holds_ascii_ci(b"hos", "host"));
        assert!(holds_ascii_ci(b"hhost", "host"));
        assert!(TextTerm::new("host", true).in_indexed(&["ho\u{200B}st-1"]));
    }
}
