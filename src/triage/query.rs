//! The filter language (docs/filter-language.md), typed into `/` in the console and `--filter`
//! on the command line.
//!
//! A query is a list of space-separated terms that must all hold. A term is either text (a bare
//! word, matched as a prefix, or a "quoted phrase") searched in the full-text index over title,
//! resource and policy, or a `field:value` condition. A leading `-` negates any term.
//! `docs/filter-language.md` is the user-facing description; this module is its implementation.
//!
//! [`parse`] checks everything that can be checked without the store and reports the first bad
//! term with its 1-based number and byte span. It returns a typed [`Query`]; the store compiles
//! that to a boolean SQL expression over the `alerts` table with every user value bound as a
//! parameter (`store/filter.rs`), so no SQL lives here.

use std::ops::Range;

use crate::domain::{Category, Cloud, Severity, StatusKind, Vendor};

/// More terms than this is a mistake (a paste gone wrong), and SQLite's expression depth is finite.
const MAX_TERMS: usize = 100;
/// Most values one comma list may hold.
const MAX_LIST: usize = 64;
/// Terms and values are quoted in messages up to this many characters.
const SHOW_MAX: usize = 60;

/// Why a query could not be parsed or compiled. `Display` is the one-line message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    /// The bad term, 1-based; 0 when the problem is the query as a whole.
    pub term: usize,
    /// Byte range of the bad term in the input (the whole input when `term` is 0), for
    /// underlining.
    pub span: Range<usize>,
    pub message: String,
}

/// A parsed filter: terms that must all hold. The empty query matches everything. This is
/// the typed query the store compiles (`store/filter.rs`); the parser knows no SQL.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    pub terms: Vec<Term>,
}

/// One term of a [`Query`].
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// 1-based position in the query.
    pub index: usize,
    pub span: Range<usize>,
    /// The term as typed, for messages.
    pub text: String,
    pub negated: bool,
    pub cond: Cond,
}

/// Comparison operators (`sev:`, `age:`, `epss:`, `score:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    /// The operator with its operands swapped (`a < b` ⇔ `b > a`).
    pub fn flipped(self) -> Cmp {
        match self {
            Cmp::Eq => Cmp::Eq,
            Cmp::Lt => Cmp::Gt,
            Cmp::Le => Cmp::Ge,
            Cmp::Gt => Cmp::Lt,
            Cmp::Ge => Cmp::Le,
        }
    }
}

/// One item of `cve:`, `assignee:` and `ticket:` lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    Any,
    None,
    Is(String),
}

/// The stored alert field a condition compares (the store maps each to its column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Vendor,
    Source,
    Status,
    /// The alert's state at the vendor.
    VendorStatus,
    Category,
    Cloud,
    Account,
    Region,
    Id,
    PolicyId,
    PolicyName,
    ResourceId,
    ResourceName,
}

/// What a term asks of an alert (its positive form; [`Term::negated`] turns it around).
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// Full-text search; `phrase` for quoted text (exact phrase), else prefix match.
    Text {
        text: String,
        phrase: bool,
    },
    /// `severity_rank <op> rank`.
    Rank(Cmp, u8),
    /// `severity_rank IN (...)`.
    Ranks(Vec<u8>),
    /// `col IN (...)`, exact, on an indexed column.
    In {
        col: Column,
        values: Vec<String>,
    },
    /// `cat:`/`cloud:`/`vstate:`: exact stored forms, and optionally every `other(x)`.
    Enum {
        col: Column,
        exact: Vec<String>,
        any_other: bool,
    },
    Tag {
        key: String,
        value: Option<String>,
    },
    Cve(Vec<Pick>),
    Assignee(Vec<Pick>),
    Ticket(Vec<Pick>),
    /// The owning team (`[owners]`), case-insensitive.
    Owner(Vec<Pick>),
    /// Case-insensitive substring of either column.
    Contains {
        cols: [Column; 2],
        needle: String,
    },
    /// Age compared with a duration in milliseconds.
    Age(Cmp, i64),
    Kev(bool),
    Epss(Cmp, f64),
    Score(Cmp, f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Sev,
    Vendor,
    Source,
    Status,
    Cat,
    Cloud,
    Account,
    Region,
    Tag,
    Cve,
    Policy,
    Resource,
    Assignee,
    Ticket,
    Age,
    Id,
    Kev,
    Epss,
    Score,
    /// The alert's state at the vendor.
    VState,
    Owner,
}

impl Field {
    const ALL: [Field; 21] = [
        Field::Sev,
        Field::Vendor,
        Field::Source,
        Field::Status,
        Field::Cat,
        Field::Cloud,
        Field::Account,
        Field::Region,
        Field::Tag,
        Field::Cve,
        Field::Policy,
        Field::Resource,
        Field::Assignee,
        Field::Ticket,
        Field::Age,
        Field::Id,
        Field::Kev,
        Field::Epss,
        Field::Score,
        Field::VState,
        Field::Owner,
    ];

    fn name(self) -> &'static str {
        match self {
            Field::Sev => "sev",
            Field::Vendor => "vendor",
            Field::Source => "source",
            Field::Status => "status",
            Field::Cat => "cat",
            Field::Cloud => "cloud",
            Field::Account => "account",
            Field::Region => "region",
            Field::Tag => "tag",
            Field::Cve => "cve",
            Field::Policy => "policy",
            Field::Resource => "resource",
            Field::Assignee => "assignee",
            Field::Ticket => "ticket",
            Field::Age => "age",
            Field::Id => "id",
            Field::Kev => "kev",
            Field::Epss => "epss",
            Field::Score => "score",
            Field::VState => "vstate",
            Field::Owner => "owner",
        }
    }

    fn lookup(name: &str) -> Option<Field> {
        let name = name.to_ascii_lowercase();
        match name.as_str() {
            "severity" => return Some(Field::Sev),
            "category" => return Some(Field::Cat),
            "vendor_status" | "vendorstate" | "vendor_state" => return Some(Field::VState),
            _ => {}
        }
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether the field takes `<`, `<=`, `>`, `>=`, `=`.
    fn compares(self) -> bool {
        matches!(self, Field::Sev | Field::Age | Field::Epss | Field::Score)
    }

    /// What a value of this field looks like, for messages.
    fn expected(self) -> String {
        match self {
            Field::Sev => format!("one of {}", severity_words()),
            Field::Vendor => format!("one of {}", vendor_words()),
            Field::Source => "a source name".into(),
            Field::Status => format!("one of {}", status_words()),
            Field::Cat => format!("one of {}", category_words()),
            Field::Cloud => format!("one of {}", cloud_words()),
            Field::Account => "an account id".into(),
            Field::Region => "a region name".into(),
            Field::Tag => "tag:key=value or tag:key".into(),
            Field::Cve => "a CVE id such as CVE-2021-44228, any or none".into(),
            Field::Policy => "part of a policy id or name".into(),
            Field::Resource => "part of a resource id or name".into(),
            Field::Assignee => "a name, any or none".into(),
            Field::Ticket => "a ticket key such as SEC-123, any or none".into(),
            Field::Age => "a comparison and a duration such as <7d or >=2h".into(),
            Field::Id => "an alert id such as wiz:ISSUE-123".into(),
            Field::Kev => "true or false".into(),
            Field::Epss => "a number from 0 to 1".into(),
            Field::Score => "a number from 0 to 100".into(),
            Field::VState => format!("one of {VSTATE_WORDS}"),
            Field::Owner => "a team name, any or none".into(),
        }
    }
}

fn field_names() -> String {
    Field::ALL.map(Field::name).join(", ")
}

const CANONICAL_SEVERITIES: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Info,
];

fn severity_words() -> String {
    CANONICAL_SEVERITIES
        .iter()
        .map(Severity::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn vendor_words() -> String {
    Vendor::ALL.map(Vendor::as_str).join(", ")
}

fn status_words() -> String {
    let mut words: Vec<&str> = StatusKind::ALL.map(StatusKind::as_str).to_vec();
    words.push("open");
    words.join(", ")
}

const VSTATE_WORDS: &str =
    "open, in_progress, resolved, dismissed, snoozed, closed (resolved or dismissed), other";

fn category_words() -> String {
    let mut words = Category::KNOWN.to_vec();
    words.push("other");
    words.join(", ")
}

const KNOWN_CLOUDS: [Cloud; 6] = [
    Cloud::Aws,
    Cloud::Azure,
    Cloud::Gcp,
    Cloud::Oci,
    Cloud::Alibaba,
    Cloud::Kubernetes,
];

fn cloud_words() -> String {
    let mut words: Vec<String> = KNOWN_CLOUDS.iter().map(Cloud::to_store).collect();
    words.push("other".into());
    words.join(", ")
}

/// User text made fit for a one-line message: controls and invisible format characters are
/// shown escaped, and long text is cut.
fn show(s: &str) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n == SHOW_MAX {
            out.push('…');
            break;
        }
        let invisible = matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}');
        if c.is_control() || invisible {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// A piece of a term: quoted text is taken literally (no operators, no list commas, no field).
#[derive(Debug, Clone)]
struct Seg {
    text: String,
    quoted: bool,
}

/// A term as the tokenizer found it, before its meaning is known.
struct RawTerm<'a> {
    index: usize,
    span: Range<usize>,
    raw: &'a str,
    segs: Vec<Seg>,
}

impl RawTerm<'_> {
    /// "in term 3 (sev:>=hgh)"
    fn at(&self) -> String {
        format!("in term {} ({})", self.index, show(self.raw))
    }

    fn fail(&self, message: String) -> QueryError {
        QueryError {
            term: self.index,
            span: self.span.clone(),
            message,
        }
    }
}

/// Parse a filter. Whitespace-only input is the empty query.
pub fn parse(input: &str) -> Result<Query, QueryError> {
    let raw = tokenize(input)?;
    let terms = raw
        .into_iter()
        .map(parse_term)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Query { terms })
}

/// Split the input into terms at unquoted whitespace. Inside double quotes, `\"` is a quote
/// and `\\` a backslash; any other backslash is literal.
fn tokenize(input: &str) -> Result<Vec<RawTerm<'_>>, QueryError> {
    let mut terms = Vec::new();
    let mut chars = input.char_indices().peekable();
    loop {
        while chars.next_if(|&(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let index = terms.len() + 1;
        if index > MAX_TERMS {
            return Err(QueryError {
                term: 0,
                span: 0..input.len(),
                message: format!("too many terms: a query takes at most {MAX_TERMS}"),
            });
        }
        let mut segs = Vec::new();
        let mut plain = String::new();
        let mut end = input.len();
        while let Some(&(i, c)) = chars.peek() {
            if c.is_whitespace() {
                end = i;
                break;
            }
            chars.next();
            if c != '"' {
                plain.push(c);
                continue;
            }
            if !plain.is_empty() {
                segs.push(Seg {
                    text: std::mem::take(&mut plain),
                    quoted: false,
                });
            }
            let mut quoted = String::new();
            let mut closed = false;
            while let Some((_, q)) = chars.next() {
                match q {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next_if(|&(_, n)| n == '"' || n == '\\') {
                        Some((_, n)) => quoted.push(n),
                        None => quoted.push('\\'),
                    },
                    _ => quoted.push(q),
                }
            }
            if !closed {
                let column = input[..i].chars().count() + 1;
                return Err(QueryError {
                    term: index,
                    span: start..input.len(),
                    message: format!(
                        "unterminated quote at column {column} in term {index} ({}); close it with \"",
                        show(&input[start..])
                    ),
                });
            }
            segs.push(Seg {
                text: quoted,
                quoted: true,
            });
        }
        if !plain.is_empty() {
            segs.push(Seg {
                text: plain,
                quoted: false,
            });
        }
        terms.push(RawTerm {
            index,
            span: start..end,
            raw: &input[start..end],
            segs,
        });
    }
    Ok(terms)
}

fn parse_term(rt: RawTerm<'_>) -> Result<Term, QueryError> {
    let mut segs = rt.segs.clone();
    let mut negated = false;
    if let Some(first) = segs.first_mut()
        && !first.quoted
        && let Some(rest) = first.text.strip_prefix('-')
    {
        if rest.starts_with('-') {
            return Err(rt.fail(format!(
                "double negation {}; negate with a single '-'",
                rt.at()
            )));
        }
        negated = true;
        first.text = rest.to_string();
        if first.text.is_empty() {
            segs.remove(0);
        }
    }
    if segs.is_empty() {
        return Err(rt.fail(format!(
            "nothing to negate {}; write -word or -field:value with no space after '-'",
            rt.at()
        )));
    }

    let cond = match field_prefix(&segs[0]) {
        Some((name, rest)) => {
            let field = Field::lookup(name).ok_or_else(|| {
                rt.fail(format!(
                    "unknown field '{}' {}; valid fields: {}; quote the term to search for it as text",
                    show(name),
                    rt.at(),
                    field_names()
                ))
            })?;
            let rest = rest.to_string();
            segs[0].text = rest;
            segs.retain(|s| s.quoted || !s.text.is_empty());
            parse_field(field, segs, &rt)?
        }
        None => {
            let phrase = segs.iter().any(|s| s.quoted);
            let text: String = segs.iter().map(|s| s.text.as_str()).collect();
            if !text.chars().any(char::is_alphanumeric) {
                return Err(rt.fail(format!(
                    "nothing to search for {}; text search matches words of letters and digits \
                     (use policy: or resource: for other characters)",
                    rt.at()
                )));
            }
            Cond::Text { text, phrase }
        }
    };
    Ok(Term {
        index: rt.index,
        span: rt.span.clone(),
        text: rt.raw.to_string(),
        negated,
        cond,
    })
}

/// `name:` at the start of an unquoted segment, where name is letters and underscores.
fn field_prefix(seg: &Seg) -> Option<(&str, &str)> {
    if seg.quoted {
        return None;
    }
    let (name, rest) = seg.text.split_once(':')?;
    let is_name = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphabetic() || c == '_');
    is_name.then_some((name, rest))
}

/// An operator token at the start of a value (only when typed outside quotes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpTok {
    Cmp(Cmp),
    Ne,
}

fn take_op(value: &mut Vec<Seg>) -> Option<OpTok> {
    let first = value.first_mut().filter(|s| !s.quoted)?;
    const OPS: [(&str, OpTok); 6] = [
        (">=", OpTok::Cmp(Cmp::Ge)),
        ("<=", OpTok::Cmp(Cmp::Le)),
        ("!=", OpTok::Ne),
        (">", OpTok::Cmp(Cmp::Gt)),
        ("<", OpTok::Cmp(Cmp::Lt)),
        ("=", OpTok::Cmp(Cmp::Eq)),
    ];
    let (tok, op) = OPS
        .into_iter()
        .find(|(tok, _)| first.text.starts_with(tok))?;
    first.text.drain(..tok.len());
    if first.text.is_empty() {
        value.remove(0);
    }
    Some(op)
}

fn joined(value: &[Seg]) -> String {
    value.iter().map(|s| s.text.as_str()).collect()
}

/// Split a value at unquoted commas.
fn split_list(value: &[Seg], field: Field, rt: &RawTerm<'_>) -> Result<Vec<String>, QueryError> {
    let mut items = vec![String::new()];
    for seg in value {
        if seg.quoted {
            if let Some(item) = items.last_mut() {
                item.push_str(&seg.text);
            }
            continue;
        }
        let mut parts = seg.text.split(',');
        if let (Some(first), Some(item)) = (parts.next(), items.last_mut()) {
            item.push_str(first);
        }
        items.extend(parts.map(str::to_string));
    }
    if items.iter().any(String::is_empty) {
        return Err(rt.fail(format!(
            "empty list item {}; expected {} between the commas",
            rt.at(),
            field.expected()
        )));
    }
    if items.len() > MAX_LIST {
        return Err(rt.fail(format!(
            "too many values {}; a list takes at most {MAX_LIST}",
            rt.at()
        )));
    }
    Ok(items)
}

fn parse_field(field: Field, mut value: Vec<Seg>, rt: &RawTerm<'_>) -> Result<Cond, QueryError> {
    if field == Field::Tag {
        return parse_tag(&value, rt);
    }
    let op = match take_op(&mut value) {
        Some(OpTok::Ne) => {
            return Err(rt.fail(format!(
                "'!=' is not an operator {}; put '-' before the term to negate it",
                rt.at()
            )));
        }
        Some(OpTok::Cmp(op)) => Some(op),
        None => None,
    };
    if op.is_some() && !field.compares() {
        return Err(rt.fail(format!(
            "{}: takes no comparison operator {}; only sev, age, epss and score compare",
            field.name(),
            rt.at()
        )));
    }
    if field == Field::Age && !matches!(op, Some(Cmp::Lt | Cmp::Le | Cmp::Gt | Cmp::Ge)) {
        return Err(rt.fail(format!(
            "age: needs <, <=, > or >= {}; for example age:<7d or age:>=2h",
            rt.at()
        )));
    }
    if joined(&value).is_empty() {
        return Err(rt.fail(format!(
            "empty value {}; expected {}",
            rt.at(),
            field.expected()
        )));
    }
    let single = |rt: &RawTerm<'_>| -> Result<String, QueryError> {
        let items = split_list(&value, field, rt)?;
        match <[String; 1]>::try_from(items) {
            Ok([item]) => Ok(item),
            Err(_) if op.is_some() => {
                Err(rt.fail(format!("a comparison takes a single value {}", rt.at())))
            }
            Err(_) => Err(rt.fail(format!(
                "{}: takes a single value {}",
                field.name(),
                rt.at()
            ))),
        }
    };
    let unknown = |what: &str, v: &str| {
        rt.fail(format!(
            "unknown {what} '{}' {}; expected {}",
            show(v),
            rt.at(),
            field.expected()
        ))
    };

    Ok(match field {
        Field::Sev => {
            let rank = |v: &str| {
                Severity::parse(v)
                    .map(|s| s.rank())
                    .ok_or_else(|| unknown("severity", v))
            };
            match op {
                Some(op) if op != Cmp::Eq => Cond::Rank(op, rank(&single(rt)?)?),
                _ => Cond::Ranks(
                    split_list(&value, field, rt)?
                        .iter()
                        .map(|v| rank(v))
                        .collect::<Result<_, _>>()?,
                ),
            }
        }
        Field::Vendor => {
            let mut values = Vec::new();
            for v in split_list(&value, field, rt)? {
                values.push(parse_vendor(&v, rt)?.as_str().to_string());
            }
            Cond::In {
                col: Column::Vendor,
                values,
            }
        }
        Field::Status => {
            let mut values: Vec<String> = Vec::new();
            for v in split_list(&value, field, rt)? {
                let kinds: Vec<StatusKind> = if v.trim().eq_ignore_ascii_case("open") {
                    StatusKind::ALL
                        .into_iter()
                        .filter(|k| k.is_active())
                        .collect()
                } else {
                    vec![StatusKind::parse(&v).ok_or_else(|| unknown("status", &v))?]
                };
                for k in kinds {
                    if !values.iter().any(|s| s == k.as_str()) {
                        values.push(k.as_str().to_string());
                    }
                }
            }
            Cond::In {
                col: Column::Status,
                values,
            }
        }
        Field::VState => {
            let mut exact: Vec<String> = Vec::new();
            let mut any_other = false;
            for v in split_list(&value, field, rt)? {
                let v = v.trim().to_ascii_lowercase().replace([' ', '-'], "_");
                let words: &[&str] = match v.as_str() {
                    "closed" => &crate::domain::VendorState::CLOSED,
                    "open" => &["open"],
                    "in_progress" | "inprogress" => &["in_progress"],
                    "resolved" | "fixed" => &["resolved"],
                    "dismissed" => &["dismissed"],
                    "snoozed" => &["snoozed"],
                    "other" => {
                        any_other = true;
                        &[]
                    }
                    _ if v.starts_with("other(") && v.ends_with(')') => {
                        exact.push(crate::domain::VendorState::from_store(&v).to_store());
                        &[]
                    }
                    _ => return Err(unknown("vendor state", &v)),
                };
                for w in words {
                    if !exact.iter().any(|e| e == w) {
                        exact.push((*w).to_string());
                    }
                }
            }
            Cond::Enum {
                col: Column::VendorStatus,
                exact,
                any_other,
            }
        }
        Field::Cat | Field::Cloud => {
            let (col, what) = match field {
                Field::Cat => (Column::Category, "category"),
                _ => (Column::Cloud, "cloud"),
            };
            let mut exact = Vec::new();
            let mut any_other = false;
            for v in split_list(&value, field, rt)? {
                let v = v.trim();
                if v.eq_ignore_ascii_case("other") {
                    any_other = true;
                    continue;
                }
                let stored = if field == Field::Cat {
                    if v.starts_with("other(") && v.ends_with(')') {
                        Some(Category::from_store(v).to_store())
                    } else {
                        Category::parse(v).map(|c| c.to_store())
                    }
                } else {
                    let lower = v.to_ascii_lowercase();
                    if lower.starts_with("other(") && lower.ends_with(')') {
                        Some(Cloud::from_store(&lower).to_store())
                    } else {
                        match Cloud::from_vendor(&lower) {
                            Cloud::Other(_) => None,
                            known => Some(known.to_store()),
                        }
                    }
                };
                exact.push(stored.ok_or_else(|| unknown(what, v))?);
            }
            Cond::Enum {
                col,
                exact,
                any_other,
            }
        }
        Field::Source | Field::Account | Field::Region | Field::Id => {
            let col = match field {
                Field::Source => Column::Source,
                Field::Account => Column::Account,
                Field::Region => Column::Region,
                _ => Column::Id,
            };
            Cond::In {
                col,
                values: split_list(&value, field, rt)?,
            }
        }
        Field::Cve => {
            let mut picks = Vec::new();
            for v in split_list(&value, field, rt)? {
                if v.chars().any(char::is_whitespace) {
                    return Err(rt.fail(format!(
                        "bad CVE id '{}' {}; an id has no spaces",
                        show(&v),
                        rt.at()
                    )));
                }
                picks.push(pick(v));
            }
            Cond::Cve(picks)
        }
        Field::Assignee => Cond::Assignee(
            split_list(&value, field, rt)?
                .into_iter()
                .map(pick)
                .collect(),
        ),
        Field::Ticket => Cond::Ticket(
            split_list(&value, field, rt)?
                .into_iter()
                .map(pick)
                .collect(),
        ),
        Field::Owner => Cond::Owner(
            split_list(&value, field, rt)?
                .into_iter()
                .map(pick)
                .collect(),
        ),
        Field::Policy => Cond::Contains {
            cols: [Column::PolicyId, Column::PolicyName],
            needle: joined(&value),
        },
        Field::Resource => Cond::Contains {
            cols: [Column::ResourceId, Column::ResourceName],
            needle: joined(&value),
        },
        Field::Age => {
            let op = op.unwrap_or(Cmp::Lt);
            Cond::Age(op, parse_duration(&single(rt)?, rt)?)
        }
        Field::Kev => {
            let v = single(rt)?;
            match v.to_ascii_lowercase().as_str() {
                "true" => Cond::Kev(true),
                "false" => Cond::Kev(false),
                _ => {
                    return Err(rt.fail(format!(
                        "bad value '{}' {}; expected true or false",
                        show(&v),
                        rt.at()
                    )));
                }
            }
        }
        Field::Epss => Cond::Epss(
            op.unwrap_or(Cmp::Eq),
            parse_number(&single(rt)?, 1.0, field, rt)?,
        ),
        Field::Score => Cond::Score(
            op.unwrap_or(Cmp::Eq),
            parse_number(&single(rt)?, 100.0, field, rt)?,
        ),
        Field::Tag => return parse_tag(&value, rt),
    })
}

fn pick(v: String) -> Pick {
    match v.to_ascii_lowercase().as_str() {
        "any" => Pick::Any,
        "none" => Pick::None,
        _ => Pick::Is(v),
    }
}

/// A vendor's kebab name (any case, `_` for `-`) or an unambiguous prefix of one.
fn parse_vendor(v: &str, rt: &RawTerm<'_>) -> Result<Vendor, QueryError> {
    if let Some(vendor) = Vendor::parse(v) {
        return Ok(vendor);
    }
    let norm = v.trim().to_ascii_lowercase().replace('_', "-");
    let matches: Vec<Vendor> = Vendor::ALL
        .into_iter()
        .filter(|x| x.as_str().starts_with(&norm))
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(rt.fail(format!(
            "unknown vendor '{}' {}; expected one of {}",
            show(v),
            rt.at(),
            vendor_words()
        ))),
        many => {
            let names = many
                .iter()
                .map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let list = many
                .iter()
                .map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(",");
            Err(rt.fail(format!(
                "ambiguous vendor '{}' {}; it could be {names} (for all of them write vendor:{list})",
                show(v),
                rt.at()
            )))
        }
    }
}

fn parse_tag(value: &[Seg], rt: &RawTerm<'_>) -> Result<Cond, QueryError> {
    if joined(value).is_empty() {
        return Err(rt.fail(format!(
            "empty value {}; expected {}",
            rt.at(),
            Field::Tag.expected()
        )));
    }
    // Split at the first unquoted '='.
    let mut key = String::new();
    let mut val: Option<String> = None;
    for seg in value {
        match (&mut val, seg.quoted) {
            (Some(v), _) => v.push_str(&seg.text),
            (None, true) => key.push_str(&seg.text),
            (None, false) => match seg.text.split_once('=') {
                Some((k, v)) => {
                    key.push_str(k);
                    val = Some(v.to_string());
                }
                None => key.push_str(&seg.text),
            },
        }
    }
    if key.is_empty() {
        return Err(rt.fail(format!(
            "empty tag key {}; expected {}",
            rt.at(),
            Field::Tag.expected()
        )));
    }
    if val.as_deref() == Some("") {
        return Err(rt.fail(format!(
            "empty tag value {}; expected {}",
            rt.at(),
            Field::Tag.expected()
        )));
    }
    Ok(Cond::Tag { key, value: val })
}

/// `30m`, `12h`, `7d`, `2w` → milliseconds.
fn parse_duration(v: &str, rt: &RawTerm<'_>) -> Result<i64, QueryError> {
    let bad = || {
        rt.fail(format!(
            "bad duration '{}' {}; expected a whole number followed by m, h, d or w (e.g. 7d)",
            show(v),
            rt.at()
        ))
    };
    let unit_ms: i64 = match v.chars().last() {
        Some('m') => 60_000,
        Some('h') => 3_600_000,
        Some('d') => 86_400_000,
        Some('w') => 604_800_000,
        _ => return Err(bad()),
    };
    let digits = &v[..v.len() - 1];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    digits
        .parse::<i64>()
        .ok()
        .and_then(|n| n.checked_mul(unit_ms))
        .ok_or_else(|| rt.fail(format!("duration '{}' is too large {}", show(v), rt.at())))
}

fn parse_number(v: &str, max: f64, field: Field, rt: &RawTerm<'_>) -> Result<f64, QueryError> {
    let expected = field.expected();
    let n: f64 = match v.parse::<f64>() {
        Ok(n)
            if n.is_finite()
                && v.bytes()
                    .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-') =>
        {
            n
        }
        _ => {
            return Err(rt.fail(format!(
                "bad number '{}' {}; expected {expected}",
                show(v),
                rt.at()
            )));
        }
    };
    if !(0.0..=max).contains(&n) {
        return Err(rt.fail(format!(
            "{} {v} is out of range {}; expected {expected}",
            field.name(),
            rt.at()
        )));
    }
    Ok(n)
}

impl Query {
    /// True for the empty query, which matches everything.
    /// Does a term (negated or not) say which statuses it wants? Then a caller's default
    /// "active queue only" restriction should not apply on top of it.
    pub fn constrains_status(&self) -> bool {
        self.terms.iter().any(|t| {
            matches!(
                &t.cond,
                Cond::In {
                    col: Column::Status,
                    ..
                }
            )
        })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// Does the query decide the statuses it shows itself, so the caller's "active queue only"
    /// default must not apply: it names statuses, or asks for what the vendor closed.
    pub fn decides_statuses(&self) -> bool {
        self.constrains_status() || self.asks_vendor_closed()
    }

    /// Does the query ask for alerts the vendor closed (a positive `vstate:` term naming
    /// resolved or dismissed)? Their statuses followed the vendor's (issue 23), so like
    /// [`Query::constrains_status`] the caller's "active queue only" default should not apply.
    pub fn asks_vendor_closed(&self) -> bool {
        self.terms.iter().any(|t| {
            !t.negated
                && matches!(
                    &t.cond,
                    Cond::Enum {
                        col: Column::VendorStatus,
                        exact,
                        ..
                    } if exact
                        .iter()
                        .any(|e| crate::domain::VendorState::CLOSED.contains(&e.as_str()))
                )
        })
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn constrains_status_tells_callers_to_drop_their_default() {
        for (q, want) in [
            ("status:dismissed", true),
            ("-status:new", true),
            ("sev:high ssh", false),
            ("", false),
        ] {
            assert_eq!(parse(q).expect("parse").constrains_status(), want, "{q}");
        }
    }

    use super::*;

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;

    fn cond(q: &str) -> Cond {
        let query = parse(q).expect("parses");
        assert_eq!(query.terms.len(), 1, "{q}");
        query.terms[0].cond.clone()
    }

    fn negated(q: &str) -> bool {
        parse(q).expect("parses").terms[0].negated
    }

    fn err(q: &str) -> QueryError {
        match parse(q) {
            Ok(query) => panic!("{q:?} parsed as {query:?}"),
            Err(e) => e,
        }
    }

    fn msg(q: &str) -> String {
        err(q).to_string()
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    // ---- parser: structure -------------------------------------------------------------

    #[test]
    fn empty_and_blank_queries_are_empty() {
        assert!(parse("").expect("parses").is_empty());
        assert!(parse("  \t ").expect("parses").is_empty());
        assert!(!parse("x").expect("parses").is_empty());
    }

    #[test]
    fn terms_are_split_on_whitespace_with_byte_spans() {
        let q = parse("  sev:high\twiz  \"a b\" ").expect("parses");
        let spans: Vec<_> = q.terms.iter().map(|t| t.span.clone()).collect();
        assert_eq!(spans, vec![2..10, 11..14, 16..21]);
        let idx: Vec<_> = q.terms.iter().map(|t| t.index).collect();
        assert_eq!(idx, vec![1, 2, 3]);
    }

    #[test]
    fn text_terms_bare_words_and_phrases() {
        assert_eq!(
            cond("bucket"),
            Cond::Text {
                text: "bucket".into(),
                phrase: false
            }
        );
        assert_eq!(
            cond("\"public bucket\""),
            Cond::Text {
                text: "public bucket".into(),
                phrase: true
            }
        );
        assert_eq!(
            cond(r#""say \"hi\" \\ \x""#),
            Cond::Text {
                text: r#"say "hi" \ \x"#.into(),
                phrase: true
            }
        );
        // Digits-only prefixes and words with colons that are not field names stay text.
        assert_eq!(
            cond("10:30"),
            Cond::Text {
                text: "10:30".into(),
                phrase: false
            }
        );
        assert_eq!(
            cond("\"arn:aws:s3\""),
            Cond::Text {
                text: "arn:aws:s3".into(),
                phrase: true
            }
        );
        assert_eq!(
            cond("{title}:x"),
            Cond::Text {
                text: "{title}:x".into(),
                phrase: false
            }
        );
    }

    #[test]
    fn negation_applies_to_any_term() {
        assert!(negated("-bucket"));
        assert!(negated("-\"public bucket\""));
        assert!(negated("-sev:high"));
        assert!(!negated("sev:high"));
        assert!(!negated("\"-bucket\""));
        assert_eq!(
            cond("-\"a b\""),
            Cond::Text {
                text: "a b".into(),
                phrase: true
            }
        );
        assert_eq!(
            cond("foo-bar"),
            Cond::Text {
                text: "foo-bar".into(),
                phrase: false
            }
        );
    }

    #[test]
    fn severity_terms() {
        assert_eq!(cond("sev:high"), Cond::Ranks(vec![4]));
        assert_eq!(cond("severity:HIGH"), Cond::Ranks(vec![4]));
        assert_eq!(cond("sev:=crit"), Cond::Ranks(vec![5]));
        assert_eq!(cond("sev:critical,high"), Cond::Ranks(vec![5, 4]));
        assert_eq!(cond("sev:>=high"), Cond::Rank(Cmp::Ge, 4));
        assert_eq!(cond("sev:<medium"), Cond::Rank(Cmp::Lt, 3));
        assert_eq!(cond("sev:>low"), Cond::Rank(Cmp::Gt, 2));
        assert_eq!(cond("sev:<=info"), Cond::Rank(Cmp::Le, 1));
        assert_eq!(cond("sev:\"low\""), Cond::Ranks(vec![2]));
    }

    #[test]
    fn vendor_terms_accept_names_and_unambiguous_prefixes() {
        let vendor = |v: &[&str]| Cond::In {
            col: Column::Vendor,
            values: strings(v),
        };
        assert_eq!(cond("vendor:wiz"), vendor(&["wiz"]));
        assert_eq!(cond("vendor:PRISMA_CSPM"), vendor(&["prisma-cspm"]));
        assert_eq!(cond("vendor:lace"), vendor(&["lacework"]));
        assert_eq!(cond("vendor:prisma-co"), vendor(&["prisma-compute"]));
        assert_eq!(cond("vendor:cortex,orca"), vendor(&["cortex-xdr", "orca"]));
    }

    #[test]
    fn exact_column_terms() {
        assert_eq!(
            cond("source:prisma-prod"),
            Cond::In {
                col: Column::Source,
                values: strings(&["prisma-prod"])
            }
        );
        assert_eq!(
            cond("account:111,222"),
            Cond::In {
                col: Column::Account,
                values: strings(&["111", "222"])
            }
        );
        assert_eq!(
            cond("region:us-east-1"),
            Cond::In {
                col: Column::Region,
                values: strings(&["us-east-1"])
            }
        );
        assert_eq!(
            cond("id:wiz:ISSUE-1"),
            Cond::In {
                col: Column::Id,
                values: strings(&["wiz:ISSUE-1"])
            }
        );
        assert_eq!(
            cond("account:\"a,b\",c"),
            Cond::In {
                col: Column::Account,
                values: strings(&["a,b", "c"])
            }
        );
    }

    #[test]
    fn status_terms_and_open() {
        let status = |v: &[&str]| Cond::In {
            col: Column::Status,
            values: strings(v),
        };
        assert_eq!(cond("status:new"), status(&["new"]));
        assert_eq!(
            cond("status:ack,in-progress"),
            status(&["acknowledged", "in_progress"])
        );
        assert_eq!(
            cond("status:open"),
            status(&["new", "acknowledged", "in_progress"])
        );
        assert_eq!(
            cond("status:open,new,snoozed"),
            status(&["new", "acknowledged", "in_progress", "snoozed"])
        );
    }

    #[test]
    fn category_and_cloud_terms() {
        assert_eq!(
            cond("cat:vuln"),
            Cond::Enum {
                col: Column::Category,
                exact: strings(&["vulnerability"]),
                any_other: false
            }
        );
        assert_eq!(
            cond("category:iam,other"),
            Cond::Enum {
                col: Column::Category,
                exact: strings(&["identity"]),
                any_other: true
            }
        );
        assert_eq!(
            cond("cat:other(malware)"),
            Cond::Enum {
                col: Column::Category,
                exact: strings(&["other(malware)"]),
                any_other: false
            }
        );
        assert_eq!(
            cond("cloud:AWS,k8s"),
            Cond::Enum {
                col: Column::Cloud,
                exact: strings(&["aws", "kubernetes"]),
                any_other: false
            }
        );
        assert_eq!(
            cond("cloud:other(IBM)"),
            Cond::Enum {
                col: Column::Cloud,
                exact: strings(&["other(ibm)"]),
                any_other: false
            }
        );
        assert_eq!(
            cond("cloud:other"),
            Cond::Enum {
                col: Column::Cloud,
                exact: vec![],
                any_other: true
            }
        );
    }

    #[test]
    fn tag_terms() {
        assert_eq!(
            cond("tag:env=prod"),
            Cond::Tag {
                key: "env".into(),
                value: Some("prod".into())
            }
        );
        assert_eq!(
            cond("tag:env"),
            Cond::Tag {
                key: "env".into(),
                value: None
            }
        );
        assert_eq!(
            cond("tag:k=a=b"),
            Cond::Tag {
                key: "k".into(),
                value: Some("a=b".into())
            }
        );
        assert_eq!(
            cond(r#"tag:"cost center"="R&D, EU""#),
            Cond::Tag {
                key: "cost center".into(),
                value: Some("R&D, EU".into())
            }
        );
        assert_eq!(
            cond(r#"tag:"a=b"=c"#),
            Cond::Tag {
                key: "a=b".into(),
                value: Some("c".into())
            }
        );
    }

    #[test]
    fn cve_assignee_ticket_terms() {
        assert_eq!(
            cond("cve:CVE-2021-44228"),
            Cond::Cve(vec![Pick::Is("CVE-2021-44228".into())])
        );
        assert_eq!(cond("cve:any"), Cond::Cve(vec![Pick::Any]));
        assert_eq!(cond("cve:NONE"), Cond::Cve(vec![Pick::None]));
        assert_eq!(
            cond("cve:a,b"),
            Cond::Cve(vec![Pick::Is("a".into()), Pick::Is("b".into())])
        );
        assert_eq!(cond("assignee:none"), Cond::Assignee(vec![Pick::None]));
        assert_eq!(
            cond("assignee:\"Bob Smith\""),
            Cond::Assignee(vec![Pick::Is("Bob Smith".into())])
        );
        assert_eq!(cond("ticket:none"), Cond::Ticket(vec![Pick::None]));
        assert_eq!(cond("ticket:any"), Cond::Ticket(vec![Pick::Any]));
        assert_eq!(
            cond("ticket:SEC-1"),
            Cond::Ticket(vec![Pick::Is("SEC-1".into())])
        );
    }

    #[test]
    fn substring_terms_keep_commas_and_quotes() {
        assert_eq!(
            cond("policy:\"public bucket\""),
            Cond::Contains {
                cols: [Column::PolicyId, Column::PolicyName],
                needle: "public bucket".into()
            }
        );
        assert_eq!(
            cond("policy:a,b"),
            Cond::Contains {
                cols: [Column::PolicyId, Column::PolicyName],
                needle: "a,b".into()
            }
        );
        assert_eq!(
            cond("resource:arn:aws:s3:::x"),
            Cond::Contains {
                cols: [Column::ResourceId, Column::ResourceName],
                needle: "arn:aws:s3:::x".into()
            }
        );
        // Quoted, an operator character is just text.
        assert_eq!(
            cond("resource:\">x\""),
            Cond::Contains {
                cols: [Column::ResourceId, Column::ResourceName],
                needle: ">x".into()
            }
        );
    }

    #[test]
    fn age_terms() {
        assert_eq!(cond("age:<7d"), Cond::Age(Cmp::Lt, 7 * DAY));
        assert_eq!(cond("age:>=2h"), Cond::Age(Cmp::Ge, 2 * HOUR));
        assert_eq!(cond("age:>30m"), Cond::Age(Cmp::Gt, 30 * MIN));
        assert_eq!(cond("age:<=2w"), Cond::Age(Cmp::Le, 14 * DAY));
    }

    #[test]
    fn later_fields_parse() {
        assert_eq!(cond("kev:true"), Cond::Kev(true));
        assert_eq!(cond("kev:FALSE"), Cond::Kev(false));
        assert_eq!(cond("epss:>0.5"), Cond::Epss(Cmp::Gt, 0.5));
        assert_eq!(cond("epss:1"), Cond::Epss(Cmp::Eq, 1.0));
        assert_eq!(cond("score:>=70"), Cond::Score(Cmp::Ge, 70.0));
        assert_eq!(cond("score:<=100"), Cond::Score(Cmp::Le, 100.0));
    }

    // ---- parser: errors (exact text) ---------------------------------------------------

    #[test]
    fn error_unknown_severity_names_term_and_span() {
        let e = err("sev:high vendor:wiz sev:>=hgh");
        assert_eq!(
            e.message,
            "unknown severity 'hgh' in term 3 (sev:>=hgh); expected one of critical, high, medium, low, info"
        );
        assert_eq!(e.term, 3);
        assert_eq!(e.span, 20..29);
        assert_eq!(e.to_string(), e.message);
        assert_eq!(
            msg("sev:high,urgent"),
            "unknown severity 'urgent' in term 1 (sev:high,urgent); expected one of critical, high, medium, low, info"
        );
    }

    #[test]
    fn error_unterminated_quote_gives_column() {
        let e = err("sev:high policy:\"public bucket");
        assert_eq!(
            e.message,
            "unterminated quote at column 17 in term 2 (policy:\"public bucket); close it with \""
        );
        assert_eq!((e.term, e.span), (2, 9..30));
        // Columns count characters, not bytes.
        assert_eq!(
            msg("é \"x"),
            "unterminated quote at column 3 in term 2 (\"x); close it with \""
        );
        assert_eq!(
            msg("a\"b"),
            "unterminated quote at column 2 in term 1 (a\"b); close it with \""
        );
        assert_eq!(
            msg(r#""x\""#),
            "unterminated quote at column 1 in term 1 (\"x\\\"); close it with \""
        );
    }

    #[test]
    fn error_empty_values() {
        assert_eq!(
            msg("sev:"),
            "empty value in term 1 (sev:); expected one of critical, high, medium, low, info"
        );
        assert_eq!(
            msg("sev:>="),
            "empty value in term 1 (sev:>=); expected one of critical, high, medium, low, info"
        );
        assert_eq!(
            msg("vendor:\"\""),
            "empty value in term 1 (vendor:\"\"); expected one of prisma-cspm, prisma-compute, wiz, lacework, orca, cortex-xdr"
        );
        assert_eq!(
            msg("source:"),
            "empty value in term 1 (source:); expected a source name"
        );
        assert_eq!(
            msg("account:"),
            "empty value in term 1 (account:); expected an account id"
        );
        assert_eq!(
            msg("region:"),
            "empty value in term 1 (region:); expected a region name"
        );
        assert_eq!(
            msg("status:"),
            "empty value in term 1 (status:); expected one of new, acknowledged, in_progress, resolved, dismissed, snoozed, open"
        );
        assert_eq!(
            msg("cat:"),
            "empty value in term 1 (cat:); expected one of misconfiguration, vulnerability, runtime, identity, data, network, other"
        );
        assert_eq!(
            msg("cloud:"),
            "empty value in term 1 (cloud:); expected one of aws, azure, gcp, oci, alibaba, kubernetes, other"
        );
        assert_eq!(
            msg("tag:"),
            "empty value in term 1 (tag:); expected tag:key=value or tag:key"
        );
        assert_eq!(
            msg("cve:"),
            "empty value in term 1 (cve:); expected a CVE id such as CVE-2021-44228, any or none"
        );
        assert_eq!(
            msg("policy:"),
            "empty value in term 1 (policy:); expected part of a policy id or name"
        );
        assert_eq!(
            msg("resource:\"\""),
            "empty value in term 1 (resource:\"\"); expected part of a resource id or name"
        );
        assert_eq!(
            msg("assignee:"),
            "empty value in term 1 (assignee:); expected a name, any or none"
        );
        assert_eq!(
            msg("ticket:"),
            "empty value in term 1 (ticket:); expected a ticket key such as SEC-123, any or none"
        );
        assert_eq!(
            msg("id:"),
            "empty value in term 1 (id:); expected an alert id such as wiz:ISSUE-123"
        );
        assert_eq!(
            msg("kev:"),
            "empty value in term 1 (kev:); expected true or false"
        );
        assert_eq!(
            msg("epss:>"),
            "empty value in term 1 (epss:>); expected a number from 0 to 1"
        );
        assert_eq!(
            msg("score:"),
            "empty value in term 1 (score:); expected a number from 0 to 100"
        );
        assert_eq!(
            msg("sev:high,,low"),
            "empty list item in term 1 (sev:high,,low); expected one of critical, high, medium, low, info between the commas"
        );
        assert_eq!(
            msg("region:a,"),
            "empty list item in term 1 (region:a,); expected a region name between the commas"
        );
    }

    #[test]
    fn error_operators() {
        assert_eq!(
            msg("vendor:>=wiz"),
            "vendor: takes no comparison operator in term 1 (vendor:>=wiz); only sev, age, epss and score compare"
        );
        assert_eq!(
            msg("x policy:<foo"),
            "policy: takes no comparison operator in term 2 (policy:<foo); only sev, age, epss and score compare"
        );
        assert_eq!(
            msg("sev:!=high"),
            "'!=' is not an operator in term 1 (sev:!=high); put '-' before the term to negate it"
        );
        assert_eq!(
            msg("sev:>=high,critical"),
            "a comparison takes a single value in term 1 (sev:>=high,critical)"
        );
        assert_eq!(
            msg("age:7d"),
            "age: needs <, <=, > or >= in term 1 (age:7d); for example age:<7d or age:>=2h"
        );
        assert_eq!(
            msg("age:=7d"),
            "age: needs <, <=, > or >= in term 1 (age:=7d); for example age:<7d or age:>=2h"
        );
    }

    #[test]
    fn error_durations_and_numbers() {
        for bad in ["7x", "7", "d", "1.5d", "7D", "-1d", "7 d"] {
            let q = format!("age:<\"{bad}\"");
            let q = if bad.contains(' ') {
                q
            } else {
                format!("age:<{bad}")
            };
            assert_eq!(
                msg(&q),
                format!(
                    "bad duration '{bad}' in term 1 ({q}); expected a whole number followed by m, h, d or w (e.g. 7d)"
                )
            );
        }
        assert_eq!(
            msg("age:>99999999999999999w"),
            "duration '99999999999999999w' is too large in term 1 (age:>99999999999999999w)"
        );
        assert_eq!(
            msg("epss:>abc"),
            "bad number 'abc' in term 1 (epss:>abc); expected a number from 0 to 1"
        );
        assert_eq!(
            msg("epss:>NaN"),
            "bad number 'NaN' in term 1 (epss:>NaN); expected a number from 0 to 1"
        );
        assert_eq!(
            msg("score:>1e2"),
            "bad number '1e2' in term 1 (score:>1e2); expected a number from 0 to 100"
        );
        assert_eq!(
            msg("epss:>1.5"),
            "epss 1.5 is out of range in term 1 (epss:>1.5); expected a number from 0 to 1"
        );
        assert_eq!(
            msg("score:>=170"),
            "score 170 is out of range in term 1 (score:>=170); expected a number from 0 to 100"
        );
        assert_eq!(
            msg("score:>=-1"),
            "score -1 is out of range in term 1 (score:>=-1); expected a number from 0 to 100"
        );
        assert_eq!(
            msg("kev:maybe"),
            "bad value 'maybe' in term 1 (kev:maybe); expected true or false"
        );
        assert_eq!(
            msg("kev:true,false"),
            "kev: takes a single value in term 1 (kev:true,false)"
        );
    }

    #[test]
    fn error_unknown_field_lists_fields() {
        assert_eq!(
            msg("wiz foo:bar"),
            "unknown field 'foo' in term 2 (foo:bar); valid fields: sev, vendor, source, status, cat, cloud, \
             account, region, tag, cve, policy, resource, assignee, ticket, age, id, kev, epss, score, vstate, owner; \
             quote the term to search for it as text"
        );
        assert!(
            msg("arn:aws:s3:::bucket")
                .starts_with("unknown field 'arn' in term 1 (arn:aws:s3:::bucket);")
        );
        assert!(msg("title:x").starts_with("unknown field 'title' in term 1"));
    }

    #[test]
    fn error_unknown_words_per_field() {
        assert_eq!(
            msg("vendor:splunk"),
            "unknown vendor 'splunk' in term 1 (vendor:splunk); expected one of prisma-cspm, prisma-compute, wiz, lacework, orca, cortex-xdr"
        );
        assert_eq!(
            msg("vendor:prisma"),
            "ambiguous vendor 'prisma' in term 1 (vendor:prisma); it could be prisma-cspm, prisma-compute \
             (for all of them write vendor:prisma-cspm,prisma-compute)"
        );
        assert_eq!(
            msg("status:closed"),
            "unknown status 'closed' in term 1 (status:closed); expected one of new, acknowledged, in_progress, resolved, dismissed, snoozed, open"
        );
        assert_eq!(
            msg("cat:malware"),
            "unknown category 'malware' in term 1 (cat:malware); expected one of misconfiguration, vulnerability, runtime, identity, data, network, other"
        );
        assert_eq!(
            msg("cloud:ibm"),
            "unknown cloud 'ibm' in term 1 (cloud:ibm); expected one of aws, azure, gcp, oci, alibaba, kubernetes, other"
        );
        assert_eq!(
            msg("cve:\"CVE 1\""),
            "bad CVE id 'CVE 1' in term 1 (cve:\"CVE 1\"); an id has no spaces"
        );
    }

    #[test]
    fn error_tags() {
        assert_eq!(
            msg("tag:=prod"),
            "empty tag key in term 1 (tag:=prod); expected tag:key=value or tag:key"
        );
        assert_eq!(
            msg("tag:env="),
            "empty tag value in term 1 (tag:env=); expected tag:key=value or tag:key"
        );
    }

    #[test]
    fn error_negation_and_empty_text() {
        assert_eq!(
            msg("wiz -"),
            "nothing to negate in term 2 (-); write -word or -field:value with no space after '-'"
        );
        assert_eq!(
            msg("--x"),
            "double negation in term 1 (--x); negate with a single '-'"
        );
        assert_eq!(
            msg("*"),
            "nothing to search for in term 1 (*); text search matches words of letters and digits \
             (use policy: or resource: for other characters)"
        );
        assert!(msg("\"\"").starts_with("nothing to search for in term 1 (\"\");"));
        assert!(msg("-\"  \"").starts_with("nothing to search for in term 1 (-\"  \");"));
    }

    #[test]
    fn error_limits_and_whole_query() {
        let q = vec!["a"; MAX_TERMS + 1].join(" ");
        let e = err(&q);
        assert_eq!(e.message, "too many terms: a query takes at most 100");
        assert_eq!((e.term, e.span), (0, 0..q.len()));
        assert!(parse(&vec!["a"; MAX_TERMS].join(" ")).is_ok());
        let list = (0..=MAX_LIST)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            msg(&format!("account:{list}")),
            format!(
                "too many values in term 1 (account:{}…); a list takes at most 64",
                &list[..52]
            )
        );
    }

    #[test]
    fn error_messages_escape_controls_and_cut_long_terms() {
        assert_eq!(
            msg("sev:\u{1b}[31m"),
            "unknown severity '\\u{1b}[31m' in term 1 (sev:\\u{1b}[31m); expected one of critical, high, medium, low, info"
        );
        assert!(msg("sev:a\u{202e}b").contains("'a\\u{202e}b'"));
        let long = format!("vendor:{}", "x".repeat(200));
        let m = msg(&long);
        assert!(m.contains(&format!("(vendor:{}…)", "x".repeat(53))), "{m}");
    }

    /// (These two were checked beside the SQL tests, now in `store/filter.rs`.)
    #[test]
    fn error_unknown_vendor_state_and_a_lone_combining_mark() {
        assert_eq!(
            msg("vstate:gone"),
            "unknown vendor state 'gone' in term 1 (vstate:gone); expected one of open, in_progress, resolved, dismissed, snoozed, closed (resolved or dismissed), other"
        );
        // A lone combining mark is no word: an error, not an FTS surprise.
        assert!(msg("\"\u{301}\"").starts_with("nothing to search for in term 1"));
    }
}
