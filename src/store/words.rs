//! Words as the text index splits them (FTS5's `unicode61 remove_diacritics 2`), and a text
//! term tested against one alert's own columns: the SQLite store's `sitrep_text()` SQL
//! function, for a page that walks an order's index and tests each row it reads (FTS5 would
//! expand a prefix such as `host*` into every match again for each row), and the team store's
//! word lists (store/team/text.rs). docs/filter-language.md says where the two can differ.

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;
use unicode_normalization::char::{decompose_canonical, is_combining_mark};

use crate::sanitize;

/// The words of `s` as unicode61 makes them: runs of letters and digits (combining marks and
/// everything else separate words), lower-cased, diacritics removed.
pub(super) fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    each_word(s, |w| {
        out.push(w.to_string());
        true
    });
    out
}

/// Calls `f` with each word of `s` ([`words`]) until it returns false.
fn each_word(s: &str, mut f: impl FnMut(&str) -> bool) {
    let mut word = String::new();
    for c in s.chars() {
        if c.is_alphanumeric() && !is_combining_mark(c) {
            if c.is_ascii() {
                word.push(c.to_ascii_lowercase());
                continue;
            }
            for l in c.to_lowercase() {
                decompose_canonical(l, |b| {
                    if !is_combining_mark(b) {
                        word.push(b);
                    }
                });
            }
        } else if !word.is_empty() {
            if !f(&word) {
                return;
            }
            word.clear();
        }
    }
    if !word.is_empty() {
        f(&word);
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
        let Some((last, lead)) = self.words.split_last() else {
            return false;
        };
        // The column's words, the last `lead.len()` before the current one kept in a ring.
        let mut ring: Vec<String> = Vec::with_capacity(lead.len());
        let mut seen = 0usize;
        let mut found = false;
        each_word(text, |w| {
            let ends = if self.phrase {
                w == last
            } else {
                w.starts_with(last.as_str())
            };
            if ends && seen >= lead.len() {
                let k = lead.len();
                found = (0..k).all(|i| ring[(seen - k + i) % k.max(1)] == lead[i]);
            }
            if found {
                return false;
            }
            if !lead.is_empty() {
                let slot = seen % lead.len();
                match ring.get_mut(slot) {
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
            let part = |i: usize| -> rusqlite::Result<Option<String>> { ctx.get(i) };
            let title: String = ctx.get(2)?;
            if term.in_column(&index_text(&[Some(&title)])) {
                return Ok(true);
            }
            let (rid, rname, rtype) = (part(3)?, part(4)?, part(5)?);
            if term.in_column(&index_text(&[
                rid.as_deref(),
                rname.as_deref(),
                rtype.as_deref(),
            ])) {
                return Ok(true);
            }
            let (pid, pname) = (part(6)?, part(7)?);
            Ok(term.in_column(&index_text(&[pid.as_deref(), pname.as_deref()])))
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
}
