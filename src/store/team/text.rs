//! Text search on the team store, made to agree with the SQLite store's FTS5 index
//! (`unicode61 remove_diacritics 2`): the publisher splits title, resource and policy into
//! words here and stores them as a `tsvector` literal, and a filter's text term becomes a
//! `tsquery` literal split the same way. PostgreSQL's own parser and dictionaries are never
//! used (they split `prod-data` and stem words differently), so both backends match the same
//! words.

use crate::store::words::words;

/// A lexeme quoted for a tsvector or tsquery literal.
fn quoted(word: &str) -> String {
    let mut q = String::with_capacity(word.len() + 2);
    q.push('\'');
    for c in word.chars() {
        if c == '\'' || c == '\\' {
            q.push(c);
        }
        q.push(c);
    }
    q.push('\'');
    q
}

/// The highest position a tsvector holds (PostgreSQL clamps larger ones).
const MAX_POS: usize = 16_383;

/// The `tsvector` literal of the indexed columns: each word at its position, a one-position
/// gap between columns so that a phrase never spans two of them (as FTS5's columns).
pub(super) fn tsvector(columns: &[&str]) -> String {
    let mut out = String::new();
    let mut pos = 0usize;
    for col in columns {
        for w in words(col) {
            pos += 1;
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&quoted(&w));
            out.push(':');
            out.push_str(&pos.min(MAX_POS).to_string());
        }
        pos += 1;
    }
    out
}

/// The `tsquery` literal of a text term: its words in sequence (`<->`), the last one a
/// prefix unless `phrase` (FTS5's `"…"*` and `"…"`). None when the text holds no word: it
/// then matches nothing, as in FTS5.
pub(super) fn tsquery(text: &str, phrase: bool) -> Option<String> {
    let words = words(text);
    if words.is_empty() {
        return None;
    }
    let mut q = words
        .iter()
        .map(|w| quoted(w))
        .collect::<Vec<_>>()
        .join(" <-> ");
    if !phrase {
        q.push_str(":*");
    }
    Some(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_quote_and_place_words() {
        assert_eq!(tsvector(&["a b", "", "c"]), "'a':1 'b':2 'c':5");
        assert_eq!(
            tsquery("prod-data", false).as_deref(),
            Some("'prod' <-> 'data':*")
        );
        assert_eq!(
            tsquery("Public bucket", true).as_deref(),
            Some("'public' <-> 'bucket'")
        );
        assert_eq!(tsquery("'; --", false), None);
        assert_eq!(quoted("it's\\"), "'it''s\\\\'");
    }
}
