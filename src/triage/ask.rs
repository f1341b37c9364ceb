//! Ask, offline: a question in plain words → a filter-language expression (docs/ai.md, "Ask").
//!
//! Deterministic and pure (no I/O, no clock): the same question always gives the same filter.
//! A question is read as words; the longest known phrase at each place wins ("s3 buckets"
//! before "buckets", "nobody ticketed" before "ticketed"). Each phrase means one filter piece,
//! filler words ("show me all the …") mean nothing, and every other word is listed back in
//! [`Translation::not_understood`] — never silently dropped. The answer is only a filter: the
//! caller parses it with the real parser ([`crate::triage::query::parse`]) and shows it for
//! editing before it runs.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// What the offline translator made of a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Translation {
    /// The filter-language expression (empty: the whole queue).
    pub filter: String,
    /// A short reading of the filter in words.
    pub explanation: String,
    /// Words of the question that mean nothing to the translator, in order.
    pub not_understood: Vec<String>,
}

/// One filter piece a phrase stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    /// Words that carry no filter ("show", "me", "alerts").
    Filler,
    /// A severity word; `sev:` lists them, or compares when a "… or above" follows.
    Sev(&'static str),
    /// "and above", "or higher": the severity before it is a minimum.
    OrAbove,
    /// "at least": the severity after it is a minimum.
    AtLeast,
    /// Negates the next piece ("not", "except", "excluding").
    Not,
    Vendor(&'static str),
    Cloud(&'static str),
    Cat(&'static str),
    Kind(&'static str),
    Exposed(bool),
    /// An environment tag value (`tag:env=…`).
    Env(&'static str),
    /// "environment", "env", "scope": turns a preceding "pci" into an environment.
    EnvWord,
    Compliance(&'static str),
    Status(&'static str),
    /// `ticket:none` (false) or `ticket:any` (true).
    Ticket(bool),
    /// `mine`, `assignee:none`, `assignee:any`.
    Assignee(&'static str),
    Kev,
    Cve(&'static str),
    /// `since:today` / `since:week`.
    SinceWord(&'static str),
    /// "last", "past", "within": a duration follows.
    Within,
    /// "older than": a duration follows, as a minimum age.
    OlderThan,
}

use Meaning::*;

/// The vocabulary, phrase → meaning. Plurals are matched by trying a word without its
/// trailing `s` too, so only singular forms are listed unless the plural differs otherwise.
const PHRASES: &[(&str, Meaning)] = &[
    // filler
    ("show", Filler),
    ("me", Filler),
    ("list", Filler),
    ("find", Filler),
    ("get", Filler),
    ("give", Filler),
    ("which", Filler),
    ("what", Filler),
    ("are", Filler),
    ("is", Filler),
    ("were", Filler),
    ("was", Filler),
    ("there", Filler),
    ("all", Filler),
    ("any", Filler),
    ("every", Filler),
    ("the", Filler),
    ("a", Filler),
    ("an", Filler),
    ("in", Filler),
    ("on", Filler),
    ("of", Filler),
    ("for", Filler),
    ("from", Filler),
    ("to", Filler),
    ("at", Filler),
    ("by", Filler),
    ("our", Filler),
    ("we", Filler),
    ("us", Filler),
    ("i", Filler),
    ("that", Filler),
    ("with", Filler),
    ("and", Filler),
    ("or", Filler),
    ("have", Filler),
    ("has", Filler),
    ("having", Filler),
    ("been", Filler),
    ("please", Filler),
    ("everything", Filler),
    ("failure", Filler),
    ("fail", Filler),
    ("about", Filler),
    ("mentioning", Filler),
    ("regarding", Filler),
    ("concerning", Filler),
    ("alert", Filler),
    ("finding", Filler),
    ("issue", Filler),
    ("problem", Filler),
    ("resource", Filler),
    ("asset", Filler),
    ("severity", Filler),
    ("queue", Filler),
    ("item", Filler),
    ("yet", Filler),
    ("still", Filler),
    ("currently", Filler),
    ("right", Filler),
    ("now", Filler),
    ("over", Filler),
    ("during", Filler),
    ("since", Filler),
    ("failing", Filler),
    ("violation", Filler),
    ("violating", Filler),
    ("control", Filler),
    ("compliance", Filler),
    ("framework", Filler),
    ("requirement", Filler),
    ("related", Filler),
    ("affected", Filler),
    ("affecting", Filler),
    ("account", Filler),
    ("cloud", Filler),
    // severities
    ("critical", Sev("critical")),
    ("crit", Sev("critical")),
    ("high", Sev("high")),
    ("medium", Sev("medium")),
    ("moderate", Sev("medium")),
    ("low", Sev("low")),
    ("info", Sev("info")),
    ("informational", Sev("info")),
    ("and above", OrAbove),
    ("or above", OrAbove),
    ("and higher", OrAbove),
    ("or higher", OrAbove),
    ("or worse", OrAbove),
    ("and up", OrAbove),
    ("at least", AtLeast),
    ("severe", Sev("high+")),
    ("serious", Sev("high+")),
    // negation
    ("not", Not),
    ("except", Not),
    ("excluding", Not),
    ("exclude", Not),
    ("other than", Not),
    ("but not", Not),
    // vendors (names as in `vendor:`)
    ("wiz", Vendor("wiz")),
    ("prisma", Vendor("prisma")),
    ("prisma cloud", Vendor("prisma")),
    ("prisma cspm", Vendor("prisma-cspm")),
    ("prisma-cspm", Vendor("prisma-cspm")),
    ("redlock", Vendor("prisma-cspm")),
    ("prisma compute", Vendor("prisma-compute")),
    ("prisma-compute", Vendor("prisma-compute")),
    ("prisma cloud compute", Vendor("prisma-compute")),
    ("twistlock", Vendor("prisma-compute")),
    ("lacework", Vendor("lacework")),
    ("orca", Vendor("orca")),
    ("cortex", Vendor("cortex-xdr")),
    ("xdr", Vendor("cortex-xdr")),
    ("cortex xdr", Vendor("cortex-xdr")),
    ("cortex-xdr", Vendor("cortex-xdr")),
    // clouds
    ("aws", Cloud("aws")),
    ("amazon", Cloud("aws")),
    ("amazon web services", Cloud("aws")),
    ("azure", Cloud("azure")),
    ("microsoft azure", Cloud("azure")),
    ("gcp", Cloud("gcp")),
    ("google cloud", Cloud("gcp")),
    ("oci", Cloud("oci")),
    ("oracle cloud", Cloud("oci")),
    ("alibaba", Cloud("alibaba")),
    // categories
    ("runtime", Cat("runtime")),
    ("vulnerability", Cat("vulnerability")),
    ("vulnerabilities", Cat("vulnerability")),
    ("vuln", Cat("vulnerability")),
    ("misconfiguration", Cat("misconfiguration")),
    ("misconfig", Cat("misconfiguration")),
    ("posture", Cat("misconfiguration")),
    ("identity", Cat("identity")),
    ("iam", Cat("identity")),
    ("data", Cat("data")),
    ("network", Cat("network")),
    // resource kinds
    ("s3", Kind("s3-bucket")),
    ("s3 bucket", Kind("s3-bucket")),
    ("bucket", Kind("bucket")),
    ("storage bucket", Kind("bucket")),
    ("storage account", Kind("bucket")),
    ("security group", Kind("security-group")),
    ("sg", Kind("security-group")),
    ("firewall", Kind("security-group")),
    ("firewall rule", Kind("security-group")),
    ("nsg", Kind("security-group")),
    ("iam role", Kind("iam-role")),
    ("role", Kind("iam-role")),
    ("service account", Kind("iam-role")),
    ("managed identity", Kind("iam-role")),
    ("managed identities", Kind("iam-role")),
    ("vm", Kind("vm")),
    ("virtual machine", Kind("vm")),
    ("instance", Kind("vm")),
    ("ec2", Kind("vm")),
    ("ec2 instance", Kind("vm")),
    ("server", Kind("vm")),
    ("host", Kind("vm")),
    ("container image", Kind("container-image")),
    ("image", Kind("container-image")),
    ("docker image", Kind("container-image")),
    ("k8s", Kind("k8s")),
    ("kubernetes", Kind("k8s")),
    ("cluster", Kind("k8s")),
    ("pod", Kind("k8s")),
    ("database", Kind("database")),
    ("db", Kind("database")),
    ("rds", Kind("database")),
    ("load balancer", Kind("load-balancer")),
    ("lambda", Kind("function")),
    ("lambda function", Kind("function")),
    ("serverless", Kind("function")),
    ("serverless function", Kind("function")),
    // exposure
    ("public", Exposed(true)),
    ("publicly", Exposed(true)),
    ("publicly exposed", Exposed(true)),
    ("publicly accessible", Exposed(true)),
    ("exposed", Exposed(true)),
    ("internet-facing", Exposed(true)),
    ("internet facing", Exposed(true)),
    ("exposed to the internet", Exposed(true)),
    ("open to the internet", Exposed(true)),
    ("reachable from the internet", Exposed(true)),
    ("internet exposed", Exposed(true)),
    ("internet-exposed", Exposed(true)),
    ("private", Exposed(false)),
    ("internal", Exposed(false)),
    ("not exposed", Exposed(false)),
    ("not public", Exposed(false)),
    ("not internet-facing", Exposed(false)),
    // environments (tag env=…)
    ("prod", Env("prod")),
    ("production", Env("prod")),
    ("staging", Env("staging")),
    ("stage", Env("staging")),
    ("dev", Env("dev")),
    ("development", Env("dev")),
    ("test", Env("test")),
    ("environment", EnvWord),
    ("env", EnvWord),
    ("scope", EnvWord),
    ("zone", EnvWord),
    // compliance frameworks
    ("pci", Compliance("pci")),
    ("pci dss", Compliance("pci")),
    ("pci-dss", Compliance("pci")),
    ("pcidss", Compliance("pci")),
    ("hipaa", Compliance("hipaa")),
    ("soc 2", Compliance("soc2")),
    ("soc2", Compliance("soc2")),
    ("soc-2", Compliance("soc2")),
    ("soc ii", Compliance("soc2")),
    ("cis", Compliance("cis")),
    ("cis benchmark", Compliance("cis")),
    ("nist", Compliance("nist")),
    ("nist 800-53", Compliance("nist")),
    ("iso 27001", Compliance("iso27001")),
    ("iso27001", Compliance("iso27001")),
    ("iso-27001", Compliance("iso27001")),
    // status
    ("open", Status("open")),
    ("active", Status("open")),
    ("unresolved", Status("open")),
    ("new", Status("new")),
    ("untriaged", Status("new")),
    ("not triaged", Status("new")),
    ("unreviewed", Status("new")),
    ("not reviewed", Status("new")),
    ("nobody looked at", Status("new")),
    ("acknowledged", Status("acknowledged")),
    ("acked", Status("acknowledged")),
    ("in progress", Status("in_progress")),
    ("being worked on", Status("in_progress")),
    ("resolved", Status("resolved")),
    ("fixed", Status("resolved")),
    ("dismissed", Status("dismissed")),
    ("snoozed", Status("snoozed")),
    ("closed", Status("resolved,dismissed")),
    // tickets
    ("nobody ticketed", Ticket(false)),
    ("no one ticketed", Ticket(false)),
    ("not ticketed", Ticket(false)),
    ("not yet ticketed", Ticket(false)),
    ("unticketed", Ticket(false)),
    ("no ticket", Ticket(false)),
    ("without a ticket", Ticket(false)),
    ("without ticket", Ticket(false)),
    ("ticketed", Ticket(true)),
    ("with a ticket", Ticket(true)),
    ("ticket", Ticket(true)),
    // assignee
    ("mine", Assignee("mine")),
    ("my", Assignee("mine")),
    ("assigned to me", Assignee("mine")),
    ("unassigned", Assignee("none")),
    ("not assigned", Assignee("none")),
    ("nobody owns", Assignee("none")),
    ("no owner", Assignee("none")),
    ("no assignee", Assignee("none")),
    ("assigned", Assignee("any")),
    // exploitation
    ("cve", Cve("any")),
    ("kev", Kev),
    ("cisa kev", Kev),
    ("known exploited", Kev),
    ("actively exploited", Kev),
    ("exploited in the wild", Kev),
    ("exploited", Kev),
    ("log4shell", Cve("CVE-2021-44228")),
    ("log4j", Cve("CVE-2021-44228")),
    ("spring4shell", Cve("CVE-2022-22965")),
    ("regresshion", Cve("CVE-2024-6387")),
    // time
    ("today", SinceWord("today")),
    ("this week", SinceWord("week")),
    ("last", Within),
    ("past", Within),
    ("within", Within),
    ("recent", Within),
    ("older than", OlderThan),
    ("more than", OlderThan),
];

/// Longest phrase in [`PHRASES`], in words.
const MAX_PHRASE: usize = 4;

fn vocabulary() -> &'static BTreeMap<Vec<&'static str>, Meaning> {
    static VOCAB: OnceLock<BTreeMap<Vec<&'static str>, Meaning>> = OnceLock::new();
    VOCAB.get_or_init(|| {
        PHRASES
            .iter()
            .map(|(p, m)| (p.split(' ').collect(), *m))
            .collect()
    })
}

/// A word of the question: lower-case text, or a quoted phrase kept as typed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Word {
    Plain(String),
    Quoted(String),
}

/// Words at whitespace and punctuation; `-`, `.`, `/` inside a word stay (`internet-facing`,
/// `CVE-2021-44228`, `us-east-1`, `800-53`); "double quotes" keep a phrase together.
fn words(question: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = question.chars().peekable();
    let flush = |cur: &mut String, out: &mut Vec<Word>| {
        let w = cur.trim_matches(|c: char| matches!(c, '-' | '.' | '/'));
        if !w.is_empty() {
            out.push(Word::Plain(w.to_lowercase()));
        }
        cur.clear();
    };
    while let Some(c) = chars.next() {
        if c == '"' || c == '“' || c == '”' {
            flush(&mut cur, &mut out);
            let mut q = String::new();
            for n in chars.by_ref() {
                if n == '"' || n == '”' || n == '“' {
                    break;
                }
                q.push(n);
            }
            let q = q.trim().to_string();
            if q.chars().any(char::is_alphanumeric) {
                out.push(Word::Quoted(q));
            }
        } else if c.is_alphanumeric() || matches!(c, '-' | '.' | '/' | '_') {
            cur.push(c);
        } else if c == '\'' || c == '’' {
            // "team's" → "team"; "nobody's" → "nobody".
            while chars.peek().is_some_and(|n| n.is_alphanumeric()) {
                chars.next();
            }
        } else {
            flush(&mut cur, &mut out);
        }
    }
    flush(&mut cur, &mut out);
    out
}

/// `word` or, for a plural, `word` without its `s`/`es` (`buckets` → `bucket`).
fn forms(word: &str) -> Vec<String> {
    let mut f = vec![word.to_string()];
    if let Some(s) = word.strip_suffix('s')
        && s.len() == 2
    {
        // "vms", "sgs", "dbs"
        f.push(s.to_string());
    }
    if word.len() > 3 {
        if let Some(s) = word.strip_suffix("ies") {
            f.push(format!("{s}y"));
        }
        if let Some(s) = word.strip_suffix("es") {
            f.push(s.to_string());
        }
        if let Some(s) = word.strip_suffix('s') {
            f.push(s.to_string());
        }
    }
    f
}

/// The longest phrase starting at `at`: its meaning and length in words.
fn phrase_at(w: &[Word], at: usize) -> Option<(Meaning, usize)> {
    let vocab = vocabulary();
    for len in (1..=MAX_PHRASE.min(w.len() - at)).rev() {
        let mut candidates: Vec<Vec<String>> = vec![Vec::new()];
        for word in &w[at..at + len] {
            let Word::Plain(p) = word else {
                candidates.clear();
                break;
            };
            let mut next = Vec::new();
            for c in &candidates {
                for f in forms(p) {
                    let mut c = c.clone();
                    c.push(f);
                    next.push(c);
                }
            }
            candidates = next;
        }
        for c in candidates {
            let key: Vec<&str> = c.iter().map(String::as_str).collect();
            if let Some(m) = vocab.get(&key) {
                return Some((*m, len));
            }
        }
    }
    None
}

fn number_word(w: &str) -> Option<u32> {
    if let Ok(n) = w.parse::<u32>() {
        return Some(n);
    }
    const WORDS: [&str; 12] = [
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve",
    ];
    WORDS
        .iter()
        .position(|x| *x == w)
        .and_then(|i| u32::try_from(i + 1).ok())
}

/// A duration unit word → (filter unit, how many of it one is).
fn unit_word(w: &str) -> Option<(&'static str, u32)> {
    Some(match w {
        "minute" | "minutes" | "min" | "mins" => ("m", 1),
        "hour" | "hours" | "hr" | "hrs" => ("h", 1),
        "day" | "days" => ("d", 1),
        "week" | "weeks" => ("w", 1),
        "month" | "months" => ("d", 30),
        _ => return None,
    })
}

/// A compact duration such as `24h`, `7d`, `2w`.
fn compact_duration(w: &str) -> Option<String> {
    let unit = w.chars().last()?;
    let digits = &w[..w.len() - unit.len_utf8()];
    (matches!(unit, 'm' | 'h' | 'd' | 'w')
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit()))
    .then(|| w.to_string())
}

/// A duration at `at` ("24 hours", "two weeks", "hour", "24h"): the filter text, its words
/// and how many words it took.
fn duration_at(w: &[Word], at: usize) -> Option<(String, String, usize)> {
    let plain = |i: usize| match w.get(i) {
        Some(Word::Plain(p)) => Some(p.as_str()),
        _ => None,
    };
    let first = plain(at)?;
    if let Some(d) = compact_duration(first) {
        return Some((d.clone(), d, 1));
    }
    if let Some(n) = number_word(first)
        && let Some((unit, mult)) = plain(at + 1).and_then(unit_word)
    {
        let words = format!("{n} {}", plain(at + 1).unwrap_or_default());
        return Some((format!("{}{unit}", n.saturating_mul(mult)), words, 2));
    }
    if let Some((unit, mult)) = unit_word(first) {
        return Some((format!("{mult}{unit}"), format!("1 {first}"), 1));
    }
    None
}

/// `us-east-1`, `ap-southeast-2`, `europe-west1`: letters, a dash, letters, then digits
/// (after an optional dash).
fn is_region(w: &str) -> bool {
    let mut parts = w.splitn(2, '-');
    let (Some(area), Some(rest)) = (parts.next(), parts.next()) else {
        return false;
    };
    let rest = rest.replace('-', "");
    let letters = rest.trim_end_matches(|c: char| c.is_ascii_digit());
    area.len() >= 2
        && area.bytes().all(|b| b.is_ascii_lowercase())
        && letters.len() >= 3
        && letters.bytes().all(|b| b.is_ascii_lowercase())
        && letters.len() < rest.len()
}

/// What the question asked for, piece by piece, before it is written as a filter.
#[derive(Default)]
struct Wants {
    /// Per filter field, positive values and negated values, in first-seen order.
    fields: BTreeMap<&'static str, (Vec<String>, Vec<String>)>,
    sev_min: Option<&'static str>,
    env: Option<&'static str>,
    exposed: Option<bool>,
    ticket: Option<bool>,
    kev: bool,
    time: Option<(String, String)>,
    text: Vec<String>,
}

impl Wants {
    fn add(&mut self, field: &'static str, value: &str, negated: bool) {
        let (pos, neg) = self.fields.entry(field).or_default();
        let list = if negated { neg } else { pos };
        if !list.iter().any(|v| v == value) {
            list.push(value.to_string());
        }
    }
}

/// Fields in the order the filter writes them.
const ORDER: [&str; 11] = [
    "sev",
    "vendor",
    "cloud",
    "account",
    "region",
    "cat",
    "kind",
    "compliance",
    "status",
    "assignee",
    "cve",
];

/// Translate a question. Never fails: what it cannot read is listed in `not_understood`.
pub fn translate(question: &str) -> Translation {
    let w = words(question);
    let mut wants = Wants::default();
    let mut not_understood = Vec::new();
    let mut negate_next = false;
    let mut at_least = false;
    let mut last_sev: Option<&'static str> = None;
    let mut i = 0;
    while i < w.len() {
        let p = match &w[i] {
            Word::Quoted(q) => {
                wants.text.push(q.clone());
                i += 1;
                continue;
            }
            Word::Plain(p) => p,
        };
        if p.len() > 4 && p.starts_with("cve-") {
            let id = p.to_ascii_uppercase();
            wants.add("cve", &id, std::mem::take(&mut negate_next));
            i += 1;
            continue;
        }
        // A 12-digit AWS account id, a region such as us-east-1 or europe-west1.
        if p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()) {
            wants.add("account", p, std::mem::take(&mut negate_next));
            i += 1;
            continue;
        }
        if is_region(p) {
            wants.add("region", p, std::mem::take(&mut negate_next));
            i += 1;
            continue;
        }
        let Some((meaning, len)) = phrase_at(&w, i) else {
            // A bare duration ("24h") or a number before a unit belongs to a time phrase
            // that lacks its "last"; anything else is not understood.
            if let Some((d, words, n)) = duration_at(&w, i) {
                wants.time = Some((format!("age:<{d}"), format!("in the last {words}")));
                i += n;
                continue;
            }
            not_understood.push(p.clone());
            i += 1;
            continue;
        };
        i += len;
        // "not on aws": filler between "not" and what it negates keeps the negation waiting.
        let negated = !matches!(meaning, Filler | Not | AtLeast | OrAbove)
            && std::mem::take(&mut negate_next);
        match meaning {
            Filler => {}
            Not => negate_next = true,
            AtLeast => at_least = true,
            OrAbove => {
                if let Some(s) = last_sev {
                    wants.sev_min = Some(s);
                    if let Some((pos, _)) = wants.fields.get_mut("sev") {
                        pos.retain(|v| v != s);
                    }
                }
            }
            Sev("high+") => wants.sev_min = Some("high"),
            Sev(s) => {
                if std::mem::take(&mut at_least) {
                    wants.sev_min = Some(s);
                } else {
                    wants.add("sev", s, negated);
                    last_sev = Some(s);
                }
            }
            Vendor("prisma") => {
                wants.add("vendor", "prisma-cspm", negated);
                wants.add("vendor", "prisma-compute", negated);
            }
            Vendor(v) => wants.add("vendor", v, negated),
            Cloud(c) => wants.add("cloud", c, negated),
            Cat(c) => wants.add("cat", c, negated),
            Kind(k) => wants.add("kind", k, negated),
            Exposed(e) => wants.exposed = Some(e != negated),
            Env(e) => {
                if wants.env.is_none() {
                    wants.env = Some(e);
                } else if wants.env != Some(e) {
                    not_understood.push(format!("{e} (one environment per question)"));
                }
            }
            EnvWord => {
                // "PCI environment": the framework word before it named an environment.
                let pci = wants.fields.get_mut("compliance").and_then(|(pos, _)| {
                    let n = pos.len();
                    pos.retain(|v| v != "pci");
                    (pos.len() != n).then_some(())
                });
                if pci.is_some() && wants.env.is_none() {
                    wants.env = Some("pci");
                }
            }
            Compliance(c) => wants.add("compliance", c, negated),
            Status(s) => {
                for one in s.split(',') {
                    wants.add("status", one, negated);
                }
            }
            Ticket(t) => wants.ticket = Some(t != negated),
            Assignee(a) => wants.add("assignee", a, negated),
            Kev => wants.kev = true,
            Cve(id) => wants.add("cve", id, negated),
            SinceWord(s) => {
                let words = if s == "today" { "today" } else { "this week" };
                wants.time = Some((format!("since:{s}"), format!("first seen {words}")));
            }
            Within | OlderThan => match duration_at(&w, i) {
                Some((d, words, n)) => {
                    i += n;
                    wants.time = Some(if meaning == OlderThan {
                        (format!("age:>{d}"), format!("older than {words}"))
                    } else {
                        (format!("age:<{d}"), format!("in the last {words}"))
                    });
                    // "more than 30 days old"
                    if matches!(w.get(i), Some(Word::Plain(p)) if p == "old") {
                        i += 1;
                    }
                }
                None if meaning == Within
                    && matches!(w.get(i - 1), Some(Word::Plain(p)) if p == "recent") =>
                {
                    wants.time = Some(("age:<7d".into(), "in the last 7 days".into()));
                }
                None => not_understood.push(match &w[i - 1] {
                    Word::Plain(p) | Word::Quoted(p) => p.clone(),
                }),
            },
        }
    }
    if negate_next {
        not_understood.push("not (nothing after it to negate)".into());
    }
    build(wants, not_understood)
}

/// How a field's values read in the explanation.
fn describe(field: &str, values: &[String]) -> String {
    let list = values.join(" or ");
    match field {
        "vendor" => format!("from {list}"),
        "cloud" => format!("on {list}"),
        "account" => format!("in account {list}"),
        "region" => format!("in region {list}"),
        "cat" => format!("{list} alerts"),
        "kind" => format!("on resources of kind {list}"),
        "compliance" => format!("under {}", values.join(" or ").to_uppercase()),
        "status" => format!("status {list}"),
        "assignee" => match values {
            [one] if one == "mine" => "assigned to you".into(),
            [one] if one == "none" => "assigned to nobody".into(),
            [one] if one == "any" => "assigned to someone".into(),
            _ => format!("assignee {list}"),
        },
        "cve" if values.iter().all(|v| v == "any") => "with a CVE".into(),
        "cve" => format!("with {list}"),
        "sev" => format!("{list} severity"),
        _ => list,
    }
}

fn build(wants: Wants, not_understood: Vec<String>) -> Translation {
    let mut terms: Vec<String> = Vec::new();
    let mut said: Vec<String> = Vec::new();
    for field in ORDER {
        if field == "sev"
            && let Some(min) = wants.sev_min
        {
            terms.push(format!("sev:>={min}"));
            said.push(format!("severity {min} or above"));
        }
        let Some((pos, neg)) = wants.fields.get(field) else {
            continue;
        };
        // `mine` is a word of its own; the rest are `field:value,value`.
        let mut pos = pos.clone();
        if field == "sev" && wants.sev_min.is_some() {
            pos.clear();
        }
        if field == "assignee" && pos.iter().any(|v| v == "mine") {
            terms.push("mine".into());
            said.push(describe(field, &["mine".to_string()]));
            pos.retain(|v| v != "mine");
        }
        if !pos.is_empty() {
            terms.push(format!("{field}:{}", pos.join(",")));
            said.push(describe(field, &pos));
        }
        if !neg.is_empty() {
            terms.push(format!("-{field}:{}", neg.join(",")));
            said.push(format!("not {}", describe(field, neg)));
        }
    }
    if let Some(e) = wants.exposed {
        terms.push(format!("exposed:{}", if e { "public" } else { "private" }));
        said.push(
            if e {
                "internet-facing"
            } else {
                "not internet-facing"
            }
            .into(),
        );
    }
    if let Some(env) = wants.env {
        terms.push(format!("tag:env={env}"));
        said.push(format!("tagged env={env}"));
    }
    if let Some(t) = wants.ticket {
        terms.push(format!("ticket:{}", if t { "any" } else { "none" }));
        said.push(if t { "with a ticket" } else { "with no ticket" }.into());
    }
    if wants.kev {
        terms.push("kev:true".into());
        said.push("a CVE on CISA's known-exploited list".into());
    }
    if let Some((term, words)) = wants.time {
        terms.push(term);
        said.push(words);
    }
    for t in &wants.text {
        terms.push(format!(
            "\"{}\"",
            t.replace('\\', "\\\\").replace('"', "\\\"")
        ));
        said.push(format!("mentioning \"{t}\""));
    }
    let explanation = if said.is_empty() {
        "the whole queue: nothing in the question narrows it".to_string()
    } else {
        format!("Alerts {}.", said.join("; "))
    };
    Translation {
        filter: terms.join(" "),
        explanation,
        not_understood,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triage::query::parse;

    fn filter(q: &str) -> String {
        let t = translate(q);
        parse(&t.filter).unwrap_or_else(|e| panic!("{q:?} → {:?}: {e}", t.filter));
        t.filter
    }

    #[test]
    fn the_issue_examples() {
        assert_eq!(
            filter("Show me all publicly exposed S3 buckets in our PCI environment."),
            "kind:s3-bucket exposed:public tag:env=pci"
        );
        assert_eq!(
            filter("Critical runtime alerts on prod from the last 24 hours that nobody ticketed."),
            "sev:critical cat:runtime tag:env=prod ticket:none age:<24h"
        );
    }

    #[test]
    fn severities_compare_and_list() {
        assert_eq!(filter("high and above"), "sev:>=high");
        assert_eq!(filter("at least medium"), "sev:>=medium");
        assert_eq!(filter("critical or high"), "sev:critical,high");
        assert_eq!(filter("not low"), "-sev:low");
    }

    #[test]
    fn unknown_words_are_listed_back() {
        let t = translate("critical alerts owned by the frobnicator team");
        assert_eq!(t.filter, "sev:critical");
        assert_eq!(t.not_understood, ["owned", "frobnicator", "team"]);
        assert_eq!(translate("").filter, "");
        assert!(translate("").explanation.starts_with("the whole queue"));
    }

    #[test]
    fn time_words() {
        assert_eq!(filter("in the last two weeks"), "age:<2w");
        assert_eq!(filter("past hour"), "age:<1h");
        assert_eq!(filter("today"), "since:today");
        assert_eq!(filter("this week"), "since:week");
        assert_eq!(filter("older than 30 days"), "age:>30d");
        assert_eq!(filter("more than 3 months old"), "age:>90d");
        assert_eq!(filter("last 24h"), "age:<24h");
    }

    #[test]
    fn quoted_text_and_cves() {
        assert_eq!(
            filter("alerts about \"cloudtrail\" with CVE-2021-44228"),
            "cve:CVE-2021-44228 \"cloudtrail\""
        );
        assert_eq!(filter("log4shell"), "cve:CVE-2021-44228");
        // A backslash in a quoted phrase cannot escape the term's closing quote.
        assert_eq!(filter("about \"a\\\" b"), "\"a\\\\\"");
    }

    #[test]
    fn pci_is_a_framework_unless_it_names_an_environment() {
        assert_eq!(filter("PCI DSS findings"), "compliance:pci");
        assert_eq!(filter("in our PCI environment"), "tag:env=pci");
        assert_eq!(filter("hipaa or soc 2"), "compliance:hipaa,soc2");
    }

    #[test]
    fn ownership_and_tickets() {
        assert_eq!(filter("my untriaged alerts"), "status:new mine");
        assert_eq!(
            filter("unassigned and not ticketed"),
            "assignee:none ticket:none"
        );
        assert_eq!(filter("ticketed wiz alerts"), "vendor:wiz ticket:any");
        assert_eq!(
            filter("prisma alerts except orca"),
            "vendor:prisma-cspm,prisma-compute -vendor:orca"
        );
    }
}
