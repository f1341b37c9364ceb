//! The filter language compiled to SQL: a [`Query`] (parsed and checked by
//! [`crate::triage::query`]) becomes a boolean expression over the `alerts` table with every
//! user value bound as a parameter. The parser knows no SQL; this is the only place a filter
//! meets the schema.

use rusqlite::types::Value;

use crate::triage::query::{Cmp, Column, Cond, Framework, Pick, Query, QueryError, ResourceKind};

/// The `alerts` column a typed column names.
fn column(c: Column) -> &'static str {
    match c {
        Column::Vendor => "alerts.vendor",
        Column::Source => "alerts.source",
        Column::Status => "alerts.status",
        Column::VendorStatus => "alerts.vendor_status",
        Column::Category => "alerts.category",
        Column::Cloud => "alerts.cloud",
        Column::Account => "alerts.account",
        Column::Region => "alerts.region",
        Column::Id => "alerts.id",
        Column::PolicyId => "alerts.policy_id",
        Column::PolicyName => "alerts.policy_name",
        Column::ResourceId => "alerts.resource_id",
        Column::ResourceName => "alerts.resource_name",
    }
}

/// The SQL operator.
fn cmp_sql(op: Cmp) -> &'static str {
    match op {
        Cmp::Eq => "=",
        Cmp::Lt => "<",
        Cmp::Le => "<=",
        Cmp::Gt => ">",
        Cmp::Ge => ">=",
    }
}

/// The FTS5 query for one text term: the text as one FTS5 string (so no user character is
/// ever FTS syntax), with `*` for a prefix match on the last token of a bare word.
fn fts_query(text: &str, phrase: bool) -> String {
    let mut q = String::with_capacity(text.len() + 3);
    q.push('"');
    for c in text.chars() {
        match c {
            '"' => q.push_str("\"\""),
            // Separators for the tokenizer anyway; keeps NUL and friends out of the FTS parser.
            c if c.is_control() => q.push(' '),
            c => q.push(c),
        }
    }
    q.push('"');
    if !phrase {
        q.push('*');
    }
    q
}

/// How a term on a side table (tags, CVEs, the text index) tests a row.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    /// `rowid IN (SELECT …)`: SQLite reads every match first. Right when the matches drive
    /// the query (few of them, sorted afterwards).
    Lists,
    /// A correlated `EXISTS` look-up per row: right when an order's index drives the query
    /// and each row is tested, so no page reads all of a frequent tag's or word's matches.
    Probes,
}

/// What differs between the SQL databases a filter runs on: the shared walk of the AST
/// ([`cond_sql`]) asks the dialect for these pieces and writes the rest itself. Placeholders
/// are `?` in both, bound in order (the PostgreSQL side numbers them when it runs the
/// statement, store/team/queue.rs).
pub(super) trait Dialect {
    /// `col` equals the text at `mark`, ignoring (ASCII) case.
    fn ci_eq(&self, col: &str, mark: &str) -> String;
    /// `col` contains the text at `mark`, ignoring case.
    fn ci_contains(&self, col: &str, mark: &str) -> String;
    /// `col` compared byte by byte (SQLite's BINARY), for a range over stored words.
    fn bytes(&self, col: &str) -> String;
    /// The case-insensitive LIKE operator (SQLite's LIKE folds ASCII already).
    fn like_ci(&self) -> &'static str;
    /// The severity rank column as a test of each row.
    fn rank_col(&self) -> &'static str;
    /// Literal true and false.
    fn truth(&self, value: bool) -> &'static str;
    /// Holds when `expr` does not hold, NULL included.
    fn negate(&self, expr: &str) -> String;
    /// A text term: words (the last one a prefix unless `phrase`), or the exact phrase.
    fn text(&self, text: &str, phrase: bool, params: &mut Vec<Value>) -> String;
    /// A tag with that key (and value), both compared ASCII-lower-cased.
    fn tag(&self, key: &str, value: Option<&str>, params: &mut Vec<Value>) -> String;
    /// Any of these CVE ids (compared upper-cased).
    fn cves(&self, ids: &[&str], params: &mut Vec<Value>) -> String;
    /// A compliance standard of the alert, as `' ' || lower(name) || ' '`, matches any of the
    /// GLOB patterns ([`framework_globs`]).
    fn compliance(&self, globs: &[&str], params: &mut Vec<Value>) -> String;
}

/// SQLite: FTS5 for text, `alert_tags`/`alert_cves` for tags and CVEs, in either [`Form`].
struct Sqlite(Form);

impl Dialect for Sqlite {
    fn ci_eq(&self, col: &str, mark: &str) -> String {
        format!("{col} = {mark} COLLATE NOCASE")
    }
    fn ci_contains(&self, col: &str, mark: &str) -> String {
        format!("instr(lower({col}), lower({mark})) > 0")
    }
    fn bytes(&self, col: &str) -> String {
        col.to_string()
    }
    fn like_ci(&self) -> &'static str {
        "LIKE"
    }
    fn rank_col(&self) -> &'static str {
        match self.0 {
            Form::Lists => "alerts.severity_rank",
            Form::Probes => "+alerts.severity_rank",
        }
    }
    fn truth(&self, value: bool) -> &'static str {
        if value { "1" } else { "0" }
    }
    fn negate(&self, expr: &str) -> String {
        format!("(({expr}) IS NOT 1)")
    }
    // A probe does not ask FTS5: a MATCH restricted to one rowid expands the whole query
    // again (milliseconds per row for a prefix like `host*` at 1M alerts). It splits the
    // row's own title, resource and policy into words as the index did (store/words.rs).
    fn text(&self, t: &str, phrase: bool, params: &mut Vec<Value>) -> String {
        match self.0 {
            Form::Lists => format!(
                "alerts.rowid IN (SELECT rowid FROM alerts_fts WHERE alerts_fts MATCH {})",
                mark(params, fts_query(t, phrase))
            ),
            Form::Probes => {
                let term = mark(params, t);
                let phrase = if phrase { 1 } else { 0 };
                format!(
                    "{}({term}, {phrase}, alerts.title, alerts.resource_id, \
                     alerts.resource_name, alerts.resource_type, alerts.policy_id, \
                     alerts.policy_name)",
                    super::words::SQL_FUNCTION
                )
            }
        }
    }
    fn tag(&self, key: &str, value: Option<&str>, params: &mut Vec<Value>) -> String {
        // `alert_tags` holds every tag lower-cased (SQLite's lower() folds ASCII, as
        // NOCASE does), kept from tags_json by triggers (migration 0010): an index look-up.
        let key = mark(params, key);
        let value = match value {
            Some(v) => format!(" AND value = lower({})", mark(params, v)),
            None => String::new(),
        };
        match self.0 {
            Form::Lists => format!(
                "alerts.rowid IN (SELECT alert FROM alert_tags WHERE key = lower({key}){value})"
            ),
            Form::Probes => format!(
                "EXISTS (SELECT 1 FROM alert_tags INDEXED BY alert_tags_alert \
                 WHERE alert = alerts.rowid AND key = lower({key}){value})"
            ),
        }
    }
    fn cves(&self, ids: &[&str], params: &mut Vec<Value>) -> String {
        let ids: Vec<String> = ids
            .iter()
            .map(|id| format!("upper({})", mark(params, *id)))
            .collect();
        // `alert_cves` holds each CVE id upper-cased, as `cve_ids` does (migration 0010).
        match self.0 {
            Form::Lists => format!(
                "alerts.rowid IN (SELECT alert FROM alert_cves WHERE cve IN ({}))",
                ids.join(", ")
            ),
            Form::Probes => format!(
                "EXISTS (SELECT 1 FROM alert_cves INDEXED BY alert_cves_alert \
                 WHERE alert = alerts.rowid AND cve IN ({}))",
                ids.join(", ")
            ),
        }
    }
    fn compliance(&self, globs: &[&str], params: &mut Vec<Value>) -> String {
        // compliance_json is `[{"standard": …, "requirement": …}]`.
        let globs: Vec<String> = globs
            .iter()
            .map(|g| format!("c.name GLOB {}", mark(params, *g)))
            .collect();
        format!(
            "EXISTS (SELECT 1 FROM (SELECT ' ' || lower(coalesce(json_extract(value, '$.standard'), '')) || ' ' AS name \
             FROM json_each(alerts.compliance_json)) AS c WHERE {})",
            globs.join(" OR ")
        )
    }
}

/// Bind a text parameter: its placeholder.
pub(super) fn mark(params: &mut Vec<Value>, s: impl Into<String>) -> &'static str {
    params.push(Value::Text(s.into()));
    "?"
}

/// The SQL for the positive condition, pushing its parameters.
fn cond_sql(cond: &Cond, now_ms: i64, d: &dyn Dialect, params: &mut Vec<Value>) -> String {
    use mark as text;
    fn in_list(col: &str, values: &[String], params: &mut Vec<Value>) -> String {
        if let [one] = values {
            return format!("{col} = {}", text(params, one.clone()));
        }
        let marks: Vec<&str> = values.iter().map(|v| text(params, v.clone())).collect();
        format!("{col} IN ({})", marks.join(", "))
    }
    fn picks(d: &dyn Dialect, col: &str, picks: &[Pick], params: &mut Vec<Value>) -> String {
        let parts: Vec<String> = picks
            .iter()
            .map(|p| match p {
                Pick::Any => format!("coalesce({col}, '') <> ''"),
                Pick::None => format!("coalesce({col}, '') = ''"),
                Pick::Is(v) => d.ci_eq(col, text(params, v.clone())),
                // Never reached: `to_sql` refuses a query whose `me` was not filled in.
                Pick::Me => d.truth(false).to_string(),
                // Nothing sets an assignee yet, so "mine" also means: the alert's latest
                // status change was this analyst's (history, by its (alert_id, seq) index).
                Pick::Analyst(who) => {
                    let a = d.ci_eq(col, text(params, who.clone()));
                    let b = d.ci_eq("h.actor", text(params, who.clone()));
                    format!(
                        "{a} OR alerts.id IN (SELECT h.alert_id FROM history h \
                         WHERE h.kind = 'status' AND {b} AND h.seq = \
                         (SELECT max(seq) FROM history WHERE alert_id = h.alert_id AND kind = 'status'))"
                    )
                }
            })
            .collect();
        parts.join(" OR ")
    }

    let rank_col = d.rank_col();
    match cond {
        Cond::Text { text: t, phrase } => d.text(t, *phrase, params),
        // Walking the score index, an equality on its second column made SQLite take that
        // column as constant and sort every row sharing the first one's value (a block of
        // thousands per score at 1M alerts): a unary `+` keeps it a plain test of each row.
        Cond::Rank(op, rank) => {
            params.push(Value::Integer(i64::from(*rank)));
            format!("{rank_col} {} ?", cmp_sql(*op))
        }
        Cond::Ranks(ranks) => {
            let marks: Vec<&str> = ranks
                .iter()
                .map(|r| {
                    params.push(Value::Integer(i64::from(*r)));
                    "?"
                })
                .collect();
            if marks.len() == 1 {
                format!("{rank_col} = ?")
            } else {
                format!("{rank_col} IN ({})", marks.join(", "))
            }
        }
        Cond::In { col, values } => in_list(column(*col), values, params),
        Cond::Enum {
            col,
            exact,
            any_other,
        } => {
            let col = column(*col);
            let mut parts = Vec::new();
            if !exact.is_empty() {
                parts.push(in_list(col, exact, params));
            }
            if *any_other {
                // Every stored `other(x)`, as an index-friendly range.
                let lo = text(params, "other(");
                let hi = text(params, "other)");
                let col = d.bytes(col);
                parts.push(format!("({col} >= {lo} AND {col} < {hi})"));
            }
            parts.join(" OR ")
        }
        Cond::Tag { key, value } => d.tag(key, value.as_deref(), params),
        Cond::Cve(list) => {
            let mut parts = Vec::new();
            let mut ids = Vec::new();
            for p in list {
                match p {
                    Pick::Any => parts.push("trim(alerts.cve_ids) <> ''".to_string()),
                    Pick::None => parts.push("trim(alerts.cve_ids) = ''".to_string()),
                    Pick::Is(id) => ids.push(id.as_str()),
                    // The parser makes these for `assignee:` only.
                    Pick::Me | Pick::Analyst(_) => parts.push(d.truth(false).to_string()),
                }
            }
            if !ids.is_empty() {
                parts.push(d.cves(&ids, params));
            }
            parts.join(" OR ")
        }
        Cond::Assignee(list) => picks(d, "alerts.assignee", list, params),
        Cond::Ticket(list) => picks(d, "alerts.ticket", list, params),
        Cond::Owner(list) => picks(d, "alerts.owner", list, params),
        Cond::Contains {
            cols: [a, b],
            needle,
        } => {
            let (a, b) = (column(*a), column(*b));
            let p1 = d.ci_contains(a, text(params, needle.clone()));
            let p2 = d.ci_contains(b, text(params, needle.clone()));
            format!("{p1} OR {p2}")
        }
        Cond::Age(op, ms) => {
            // age <op> d  ⇔  seen <flipped op> now - d
            params.push(Value::Integer(now_ms.saturating_sub(*ms)));
            format!(
                "coalesce(alerts.first_seen, alerts.sort_time) {} ?",
                cmp_sql(op.flipped())
            )
        }
        Cond::Since(since) => {
            params.push(Value::Integer(since.start_ms(now_ms)));
            "coalesce(alerts.first_seen, alerts.sort_time) >= ?".to_string()
        }
        Cond::Compliance(list) => {
            // The standard's name, lower-cased and padded, is matched by word patterns that
            // follow `triage::compliance::framework_of` (tests/ask.rs checks they agree).
            let globs: Vec<&str> = list
                .iter()
                .flat_map(|f| framework_globs(*f).iter().copied())
                .collect();
            d.compliance(&globs, params)
        }
        Cond::Kind(list) => {
            let parts: Vec<String> = list.iter().map(|k| kind_sql(d, *k, params)).collect();
            parts.join(" OR ")
        }
        Cond::Exposed(Some(want)) => format!("alerts.internet_facing = {}", i32::from(*want)),
        Cond::Exposed(None) => "alerts.internet_facing IS NULL".to_string(),
        Cond::Kev(want) => format!("alerts.kev = {}", i32::from(*want)),
        Cond::Epss(op, v) => {
            params.push(Value::Real(*v));
            format!("alerts.epss {} ?", cmp_sql(*op))
        }
        Cond::Score(op, v) => {
            params.push(Value::Real(*v));
            format!("alerts.score {} ?", cmp_sql(*op))
        }
    }
}

/// A framework's standard names as GLOB patterns over `' ' || lower(name) || ' '`: `pci`,
/// `hipaa`, `cis`, `nist`, `iso` as whole words (so `cis` never matches `cisco`), NIST with
/// 800-53, ISO with 27001, SOC 2 however it is spaced.
fn framework_globs(f: Framework) -> &'static [&'static str] {
    match f {
        Framework::PciDss => &["*[^a-z0-9]pci[^a-z0-9]*", "* pcidss*"],
        Framework::Hipaa => &["*[^a-z0-9]hipaa[^a-z0-9]*"],
        Framework::Soc2 => &["*soc2*", "*soc[^a-z0-9]2*", "*socii*", "*soc[^a-z0-9]ii*"],
        Framework::Cis => &["*[^a-z0-9]cis[^a-z0-9]*"],
        Framework::Nist80053 => &[
            "*[^a-z0-9]nist[^a-z0-9]*800[^a-z0-9]53*",
            "*[^a-z0-9]nist[^a-z0-9]*80053*",
        ],
        Framework::Iso27001 => &["*[^a-z0-9]iso[^a-z0-9]*27001*", "* isoiec*27001*"],
    }
}

/// The resource type with its separators made spaces and padded, so a word of it matches
/// `LIKE '% word %'`: `AWS_S3_BUCKET`, `s3:bucket`, `storage#bucket` all hold ` s3 `/` bucket `.
const TYPE_WORDS: &str = "(' ' || replace(replace(replace(replace(replace(replace(\
    lower(coalesce(alerts.resource_type, '')), '_', ' '), '-', ' '), ':', ' '), '#', ' '), \
    '/', ' '), '.', ' ') || ' ')";

/// What marks a resource of a kind: pieces of its type in any vendor's spelling (lower case,
/// separators as spaces; `%` wildcards, so `%bucket%` also finds Orca's `GcpStorageBucket`
/// and a padded `% role %` only the whole word) and shapes of its id (`LIKE` patterns, ASCII
/// case-insensitive).
fn kind_marks(kind: ResourceKind) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        ResourceKind::Bucket => (
            &[
                "%bucket%",
                "%storageaccount%",
                "%storage account%",
                "% storage %",
                "% s3 %",
            ],
            &[
                "arn:aws:s3:::%",
                "//storage.googleapis.com/%",
                "%/microsoft.storage/storageaccounts/%",
            ],
        ),
        // Only AWS's: a bucket on AWS, or an S3 ARN.
        ResourceKind::S3Bucket => (&["%s3bucket%", "% s3 bucket %"], &["arn:aws:s3:::%"]),
        ResourceKind::SecurityGroup => (
            &[
                "%securitygroup%",
                "%security group%",
                "%firewall%",
                "% nsg %",
            ],
            &[
                "%:security-group/%",
                "%/firewalls/%",
                "%/microsoft.network/networksecuritygroups/%",
            ],
        ),
        ResourceKind::IamRole => (
            &[
                "% role %",
                "% roles %",
                "%iamrole%",
                "%iam role%",
                "%access role%",
                "%serviceaccount%",
                "%service account%",
                "%managedidentit%",
                "%managed identit%",
                "% identity %",
            ],
            &[
                "arn:aws:iam::%:role/%",
                "%/serviceaccounts/%",
                "%/microsoft.managedidentity/%",
            ],
        ),
        // Not a bare "instance": `AWS_RDS_DB_INSTANCE` is a database; ids settle the rest.
        ResourceKind::Vm => (
            &[
                "%ec2instance%",
                "%ec2 instance%",
                "%virtualmachine%",
                "%virtual machine%",
                "% vm %",
                "%vminstance%",
                "% host %",
                "% endpoint %",
                "%compute instance%",
            ],
            &[
                "arn:aws:ec2:%:instance/%",
                "//compute.googleapis.com/%/instances/%",
                "%/microsoft.compute/virtualmachines/%",
            ],
        ),
        ResourceKind::ContainerImage => (
            &[
                "% image %",
                "% images %",
                "%containerimage%",
                "%container image%",
            ],
            &["sha256:%"],
        ),
        ResourceKind::K8s => (
            &[
                "%k8s%",
                "%kubernetes%",
                "% deployment %",
                "% pod %",
                "% daemonset %",
                "% statefulset %",
                "% workload %",
            ],
            &["k8s/%", "k8s://%"],
        ),
        ResourceKind::Database => (
            &[
                "%database%",
                "% db %",
                "% rds %",
                "%sql%",
                "%dbserver%",
                "% db server %",
                "%dbinstance%",
            ],
            &[
                "arn:aws:rds:%",
                "//cloudsql.googleapis.com/%",
                "%/microsoft.sql/%",
            ],
        ),
        ResourceKind::LoadBalancer => (
            &[
                "%loadbalancer%",
                "%load balancer%",
                "%elasticloadbalancing%",
            ],
            &[
                "arn:aws:elasticloadbalancing:%",
                "%/microsoft.network/loadbalancers/%",
            ],
        ),
        ResourceKind::Function => (
            &["%function%", "%lambda%", "%serverless%"],
            &["arn:aws:lambda:%", "%/microsoft.web/sites/%"],
        ),
    }
}

/// `kind:` as SQL: a word of the stored type or a shape of the id says the kind; an S3
/// bucket is a bucket on AWS or an S3 ARN; a Kubernetes resource also by its cloud.
fn kind_sql(d: &dyn Dialect, kind: ResourceKind, params: &mut Vec<Value>) -> String {
    let (words, ids) = kind_marks(kind);
    let mut parts = Vec::new();
    for w in words {
        params.push(Value::Text((*w).to_string()));
        parts.push(format!("{TYPE_WORDS} LIKE ?"));
    }
    for i in ids {
        params.push(Value::Text((*i).to_string()));
        parts.push(format!("alerts.resource_id {} ?", d.like_ci()));
    }
    match kind {
        ResourceKind::S3Bucket => {
            let bucket = kind_sql(d, ResourceKind::Bucket, params);
            parts.push(format!("(alerts.cloud = 'aws' AND ({bucket}))"));
        }
        ResourceKind::K8s => parts.push("alerts.cloud = 'kubernetes'".to_string()),
        _ => {}
    }
    parts.join(" OR ")
}

/// Does every term read only the status, vendor or severity? Such a query can be counted from
/// `alert_counts` (whose columns have those names), without reading alerts.
pub(super) fn facets_only(query: &Query) -> bool {
    query.terms.iter().all(|t| is_facet(&t.cond))
}

fn is_facet(cond: &Cond) -> bool {
    matches!(
        cond,
        Cond::Rank(..)
            | Cond::Ranks(_)
            | Cond::In {
                col: Column::Vendor | Column::Status,
                ..
            }
            | Cond::Enum {
                col: Column::Vendor | Column::Status,
                ..
            }
    )
}

/// A count kept per tag or per account (migration 0018) that answers `query`: the table, and
/// the condition on its own columns (`alerts.key`, `alerts.value`, `alerts.account`: the
/// table is read as `alerts`, as `alert_counts` is) with its parameters.
pub(super) type KeptCount = (&'static str, String, Vec<Value>);

/// When `query` is one positive `tag:` or `account:` term and otherwise only status, vendor
/// and severity terms ([`facets_only`]), its count is a sum over a kept count table: the
/// term's position in `query.terms` (the facets are compiled without it) and the table.
pub(super) fn kept_count_term(query: &Query) -> Option<(usize, KeptCount)> {
    let at = query.terms.iter().position(|t| {
        !t.negated
            && matches!(
                &t.cond,
                Cond::Tag { .. }
                    | Cond::In {
                        col: Column::Account,
                        ..
                    }
            )
    })?;
    let rest_are_facets = query
        .terms
        .iter()
        .enumerate()
        .all(|(i, t)| i == at || is_facet(&t.cond));
    if !rest_are_facets {
        return None;
    }
    let kept = match &query.terms[at].cond {
        Cond::Tag { key, value } => {
            // Stored lower-cased, as in `alert_tags` (see `cond_sql`).
            let mut params = vec![Value::Text(key.clone())];
            let mut cond = "alerts.key = lower(?)".to_string();
            if let Some(v) = value {
                params.push(Value::Text(v.clone()));
                cond.push_str(" AND alerts.value = lower(?)");
            }
            ("alert_tag_counts", cond, params)
        }
        Cond::In { values, .. } => {
            let marks = vec!["?"; values.len()].join(", ");
            (
                "alert_account_counts",
                format!("alerts.account IN ({marks})"),
                values.iter().map(|v| Value::Text(v.clone())).collect(),
            )
        }
        _ => return None,
    };
    Some((at, kept))
}

/// Does `query` hold a positive `account:` term naming one account? Its open-queue index
/// (migration 0018) can then drive a page in score order.
pub(super) fn names_one_account(query: &Query) -> bool {
    query.terms.iter().any(|t| {
        !t.negated
            && matches!(&t.cond, Cond::In { col: Column::Account, values } if values.len() == 1)
    })
}

/// A query as an SQL boolean expression over table `alerts` (columns qualified as
/// `alerts.col`) and its positional parameters, to be ANDed into a WHERE clause. Placeholders are anonymous `?`,
/// numbered after any that come before them in the statement. Every user value is bound,
/// never formatted into the SQL.
///
/// A negated term holds when its positive form does not (rows where the field is NULL
/// included). The empty query gives `1`. `kev:`, `epss:` and `score:` read the columns the
/// scorer fills (`alerts.kev`, `alerts.epss`, `alerts.score`). The `Result` is kept for
/// callers; no term fails to compile today.
pub(super) fn to_sql(query: &Query, now_ms: i64) -> Result<(String, Vec<Value>), QueryError> {
    unfilled_me(query)?;
    Ok(compile(query, now_ms, &Sqlite(Form::Lists)))
}

/// [`to_sql`] in another SQL dialect (the team store's, store/team/queue.rs): the same
/// semantics, one walk of the query.
pub(super) fn to_sql_in(
    query: &Query,
    now_ms: i64,
    dialect: &dyn Dialect,
) -> Result<(String, Vec<Value>), QueryError> {
    unfilled_me(query)?;
    Ok(compile(query, now_ms, dialect))
}

/// `mine` / `assignee:me` left unfilled ([`Query::with_analyst`] was not called): refused
/// rather than guessed.
fn unfilled_me(query: &Query) -> Result<(), QueryError> {
    match query
        .terms
        .iter()
        .find(|t| matches!(&t.cond, Cond::Assignee(list) if list.contains(&Pick::Me)))
    {
        Some(t) => Err(QueryError {
            term: t.index,
            span: t.span.clone(),
            message: format!(
                "'{}' needs to know who you are, and nobody is set here; write assignee:NAME",
                t.text
            ),
        }),
        None => Ok(()),
    }
}

/// [`to_sql`] for a listing that walks an order's index and tests each row: tag, CVE and
/// text terms are per-row look-ups instead of lists of every match.
pub(super) fn to_sql_probing(
    query: &Query,
    now_ms: i64,
) -> Result<(String, Vec<Value>), QueryError> {
    unfilled_me(query)?;
    Ok(compile(query, now_ms, &Sqlite(Form::Probes)))
}

/// A count's driving table: FROM-clause source, its alert rowid column, condition, parameters.
pub(super) type Driver = (String, &'static str, String, Vec<Value>);

/// The matches of one positive tag, CVE or text term of `query`, as a table to drive a
/// count from (the term's own index, read in rowid order and stopped early by a LIMIT)
/// instead of materializing every match: `(FROM-clause source, its alert rowid column,
/// condition, parameters)`. None when no such term is there.
///
/// With the position of the term it reads in `query.terms`: a count leaves that term out of
/// its WHERE (the join already holds it, and a text term there would list every match again).
pub(super) fn driver_term(query: &Query) -> Option<(usize, Driver)> {
    query.terms.iter().enumerate().find_map(|(at, t)| {
        if t.negated {
            return None;
        }
        let found = match &t.cond {
            Cond::Tag { key, value } => {
                let mut params = vec![Value::Text(key.clone())];
                let mut cond = "alert_tags.key = lower(?)".to_string();
                if let Some(v) = value {
                    params.push(Value::Text(v.clone()));
                    cond.push_str(" AND alert_tags.value = lower(?)");
                }
                ("alert_tags".to_string(), "alert_tags.alert", cond, params)
            }
            Cond::Cve(list) if list.iter().all(|p| matches!(p, Pick::Is(_))) => {
                let ids: Vec<Value> = list
                    .iter()
                    .filter_map(|p| match p {
                        Pick::Is(id) => Some(Value::Text(id.clone())),
                        _ => None,
                    })
                    .collect();
                let marks = vec!["upper(?)"; ids.len()].join(", ");
                (
                    format!("(SELECT DISTINCT alert FROM alert_cves WHERE cve IN ({marks})) AS d"),
                    "d.alert",
                    "1".to_string(),
                    ids,
                )
            }
            Cond::Text { text, phrase } => (
                "alerts_fts".to_string(),
                "alerts_fts.rowid",
                "alerts_fts MATCH ?".to_string(),
                vec![Value::Text(fts_query(text, *phrase))],
            ),
            _ => return None,
        };
        Some((at, found))
    })
}

fn compile(query: &Query, now_ms: i64, d: &dyn Dialect) -> (String, Vec<Value>) {
    let mut params = Vec::new();
    let mut parts = Vec::with_capacity(query.terms.len());
    for term in &query.terms {
        let expr = cond_sql(&term.cond, now_ms, d, &mut params);
        parts.push(if term.negated {
            d.negate(&expr)
        } else {
            format!("({expr})")
        });
    }
    match parts.len() {
        0 => (d.truth(true).to_string(), params),
        1 => (parts.concat(), params),
        _ => (format!("({})", parts.join(" AND ")), params),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triage::query::parse;
    use rusqlite::Connection;

    const NOW: i64 = 1_700_000_000_000;
    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;
    const DAY: i64 = 24 * HOUR;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_empty_query_compiles_to_true() {
        assert_eq!(
            to_sql(&parse("").expect("parses"), NOW).expect("sql"),
            ("1".to_string(), vec![])
        );
    }

    // ---- SQL against a real store ------------------------------------------------------

    #[derive(Default)]
    struct Row {
        id: &'static str,
        source: &'static str,
        vendor: &'static str,
        category: &'static str,
        title: &'static str,
        policy: (Option<&'static str>, Option<&'static str>),
        severity: (&'static str, i64),
        resource: (Option<&'static str>, Option<&'static str>),
        cloud: Option<&'static str>,
        account: Option<&'static str>,
        region: Option<&'static str>,
        tags: &'static str,
        cves: &'static str,
        first_seen: Option<i64>,
        sort_time: i64,
        status: &'static str,
        assignee: Option<&'static str>,
        ticket: Option<&'static str>,
    }

    fn rows() -> Vec<Row> {
        vec![
            Row {
                id: "wiz:W1",
                vendor: "wiz",
                category: "misconfiguration",
                title: "Public S3 bucket allows read access",
                policy: (
                    Some("wiz-s3-public"),
                    Some("S3 bucket is publicly readable"),
                ),
                severity: ("critical", 5),
                resource: (
                    Some("arn:aws:s3:::prod-data-bucket"),
                    Some("prod-data-bucket"),
                ),
                cloud: Some("aws"),
                account: Some("111111111111"),
                region: Some("us-east-1"),
                tags: r#"{"env":"prod","team":"data"}"#,
                first_seen: Some(NOW - DAY),
                ..Row::default()
            },
            Row {
                id: "wiz:W2",
                vendor: "wiz",
                category: "vulnerability",
                title: "Log4Shell in payment service",
                policy: (
                    Some("wiz-vuln-log4j"),
                    Some("Critical vulnerability with known exploit"),
                ),
                severity: ("high", 4),
                resource: (Some("k8s://prod/payments/deploy/api"), Some("payments-api")),
                cloud: Some("kubernetes"),
                account: Some("111111111111"),
                region: Some("us-east-1"),
                tags: r#"{"Env":"Prod"}"#,
                cves: " CVE-2021-44228 CVE-2021-45046 ",
                first_seen: Some(NOW - 10 * DAY),
                status: "acknowledged",
                assignee: Some("alice"),
                ..Row::default()
            },
            Row {
                id: "prisma-prod:P1",
                source: "prisma-prod",
                vendor: "prisma-cspm",
                category: "misconfiguration",
                title: "Security group allows 0.0.0.0/0 on port 22",
                policy: (Some("pc-sg-22"), Some("Ingress from anywhere to SSH")),
                severity: ("medium", 3),
                resource: (Some("sg-0abc"), Some("bastion-sg")),
                cloud: Some("aws"),
                account: Some("222222222222"),
                region: Some("eu-west-1"),
                tags: r#"{"env":"staging"}"#,
                first_seen: Some(NOW - 3 * HOUR),
                status: "in_progress",
                ticket: Some("SEC-101"),
                ..Row::default()
            },
            Row {
                id: "prisma-compute:C1",
                vendor: "prisma-compute",
                category: "vulnerability",
                title: "OpenSSL buffer overflow",
                severity: ("low", 2),
                resource: (Some("sha256:abcd"), Some("registry/app:1.2")),
                cves: " cve-2022-3602 ",
                first_seen: None,
                sort_time: NOW - 2 * HOUR,
                status: "resolved",
                ..Row::default()
            },
            Row {
                id: "lacework:L1",
                vendor: "lacework",
                category: "identity",
                title: "Root account used without MFA",
                policy: (Some("lw-root-mfa"), Some("Root login without MFA")),
                severity: ("critical", 5),
                resource: (Some("arn:aws:iam::222222222222:root"), Some("root")),
                cloud: Some("aws"),
                account: Some("222222222222"),
                first_seen: Some(NOW - 40 * DAY),
                status: "dismissed",
                assignee: Some("Bob Smith"),
                ..Row::default()
            },
            Row {
                id: "orca:O1",
                vendor: "orca",
                category: "data",
                title: "Unencrypted snapshot shared publicly",
                policy: (Some("orca-snap"), Some("Snapshot is public")),
                severity: ("info", 1),
                resource: (Some("projects/p/snapshots/s1"), Some("s1")),
                cloud: Some("gcp"),
                account: Some("proj-1"),
                region: Some("europe-west1"),
                tags: r#"{"env":"prod"}"#,
                first_seen: Some(NOW - 14 * DAY),
                status: "snoozed",
                ticket: Some("SEC-7"),
                ..Row::default()
            },
            Row {
                id: "cortex-xdr:X1",
                vendor: "cortex-xdr",
                category: "other(malware)",
                title: "Suspicious process \"nc -e\" spawned",
                severity: ("other(catastrophic)", 3),
                resource: (Some("host-17"), Some("host-17")),
                cloud: Some("other(ibm)"),
                first_seen: Some(NOW - 30 * MIN),
                ..Row::default()
            },
            Row {
                id: "wiz:W3",
                vendor: "wiz",
                category: "network",
                title: "NEAR open port OR wildcard rule",
                policy: (Some("wiz-net-any"), Some("Firewall allows * from any")),
                severity: ("low", 2),
                resource: (Some("fw-1"), Some("edge firewall")),
                cloud: Some("azure"),
                account: Some("sub-1"),
                region: Some("westeurope"),
                tags: r#"{"we\"ird key":"x y"}"#,
                first_seen: Some(NOW - 5 * DAY),
                ..Row::default()
            },
            Row {
                id: "orca:O2",
                vendor: "orca",
                category: "misconfiguration",
                title: "Public bucket policy grants write",
                policy: (Some("orca-bucket-policy"), Some("Bucket policy is public")),
                severity: ("medium", 3),
                resource: (Some("arn:aws:s3:::logs"), Some("logs bucket")),
                cloud: Some("aws"),
                account: Some("111111111111"),
                region: Some("us-west-2"),
                tags: r#"{"env":"prod","owner":"sec"}"#,
                first_seen: Some(NOW - 8 * DAY),
                ..Row::default()
            },
            Row {
                id: "lacework:L2",
                vendor: "lacework",
                category: "vulnerability",
                title: "Outdated curl package",
                policy: (Some("lw-vuln"), Some("Vulnerable package")),
                severity: ("high", 4),
                resource: (Some("i-123"), Some("build-runner")),
                cloud: Some("aws"),
                account: Some("333333333333"),
                region: Some("us-east-1"),
                cves: " CVE-2023-38545 ",
                first_seen: Some(NOW - 6 * DAY),
                status: "acknowledged",
                assignee: Some("carol"),
                ..Row::default()
            },
        ]
    }

    const ALL: [&str; 10] = [
        "cortex-xdr:X1",
        "lacework:L1",
        "lacework:L2",
        "orca:O1",
        "orca:O2",
        "prisma-compute:C1",
        "prisma-prod:P1",
        "wiz:W1",
        "wiz:W2",
        "wiz:W3",
    ];

    /// The `cves_json` the store writes for the ids of a `cve_ids` value (the CVE index is
    /// kept from it).
    fn cves_json(cve_ids: &str) -> String {
        let ids: Vec<serde_json::Value> = cve_ids
            .split_whitespace()
            .map(|id| serde_json::json!({ "id": id }))
            .collect();
        serde_json::Value::Array(ids).to_string()
    }

    fn store() -> Connection {
        let mut conn = Connection::open_in_memory().expect("open");
        super::super::words::register(&conn).expect("text function");
        super::super::migrate::run(&mut conn, std::path::Path::new(":memory:")).expect("migrate");
        for r in rows() {
            let source = if r.source.is_empty() {
                r.vendor
            } else {
                r.source
            };
            let status = if r.status.is_empty() { "new" } else { r.status };
            let native = r.id.split_once(':').map(|(_, n)| n).unwrap_or(r.id);
            let sort_time = r.first_seen.unwrap_or(r.sort_time);
            let tags = if r.tags.is_empty() { "{}" } else { r.tags };
            conn.execute(
                "INSERT INTO alerts (id, source, vendor, native_id, category, title, policy_id, policy_name,
                     severity, severity_rank, resource_id, resource_name, cloud, account, region, tags_json,
                     cve_ids, first_seen, vendor_status, content_hash, status, assignee, ticket,
                     sort_time, imported_at, changed_at, cves_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
                     'open', 'h', ?19, ?20, ?21, ?22, ?23, ?23, ?24)",
                rusqlite::params![
                    r.id, source, r.vendor, native, r.category, r.title, r.policy.0, r.policy.1,
                    r.severity.0, r.severity.1, r.resource.0, r.resource.1, r.cloud, r.account,
                    r.region, tags, r.cves, r.first_seen, status, r.assignee, r.ticket, sort_time, NOW,
                    cves_json(r.cves),
                ],
            )
            .expect("insert alert");
            let joined = |(a, b): (Option<&str>, Option<&str>)| {
                [a, b].into_iter().flatten().collect::<Vec<_>>().join(" ")
            };
            conn.execute(
                "INSERT INTO alerts_fts (rowid, title, resource, policy)
                 SELECT rowid, ?2, ?3, ?4 FROM alerts WHERE id = ?1",
                rusqlite::params![r.id, r.title, joined(r.resource), joined(r.policy)],
            )
            .expect("insert fts");
        }
        conn
    }

    /// The ids `q` matches, checked to be the same in every form the store compiles it to:
    /// lists, per-row probes, and (when it has a tag, CVE or text term) counted from that
    /// term's index.
    fn run(conn: &Connection, q: &str) -> Vec<String> {
        let query = parse(q).expect("parses");
        let ids = |(sql, params): (String, Vec<Value>)| -> Vec<String> {
            let mut stmt = conn
                .prepare(&format!("SELECT id FROM alerts WHERE {sql} ORDER BY id"))
                .unwrap_or_else(|e| panic!("{q:?} → {sql}: {e}"));
            stmt.query_map(rusqlite::params_from_iter(params), |r| {
                r.get::<_, String>(0)
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .unwrap_or_else(|e| panic!("{q:?} → {sql}: {e}"))
        };
        let listed = ids(to_sql(&query, NOW).expect("compiles"));
        assert_eq!(
            ids(to_sql_probing(&query, NOW).expect("sql")),
            listed,
            "probes vs lists for {q:?}"
        );
        if let Some((at, (from, col, cond, mut params))) = driver_term(&query) {
            let mut rest = query.clone();
            rest.terms.remove(at);
            let (sql, p) = to_sql_probing(&rest, NOW).expect("sql");
            params.extend(p);
            let driven = format!(
                "SELECT count(*) FROM {from} CROSS JOIN alerts ON alerts.rowid = {col} \
                 WHERE {cond} AND {sql}"
            );
            let n: i64 = conn
                .query_row(&driven, rusqlite::params_from_iter(params), |r| r.get(0))
                .unwrap_or_else(|e| panic!("{q:?} → {driven}: {e}"));
            assert_eq!(n as usize, listed.len(), "driven count for {q:?}");
        }
        listed
    }

    fn check(conn: &Connection, q: &str, expected: &[&str]) {
        let mut expected = strings(expected);
        expected.sort();
        assert_eq!(run(conn, q), expected, "query {q:?}");
    }

    fn all_but(except: &[&str]) -> Vec<&'static str> {
        ALL.into_iter().filter(|id| !except.contains(id)).collect()
    }

    #[test]
    fn sql_vstate_reads_the_vendor_state() {
        let db = store();
        db.execute_batch(
            "UPDATE alerts SET vendor_status = 'resolved' WHERE id = 'wiz:W2';
             UPDATE alerts SET vendor_status = 'dismissed' WHERE id = 'wiz:W1';
             UPDATE alerts SET vendor_status = 'other(muted)' WHERE id = 'orca:O1';",
        )
        .expect("states");
        check(&db, "vstate:resolved", &["wiz:W2"]);
        check(&db, "vstate:closed", &["wiz:W1", "wiz:W2"]);
        check(&db, "-vstate:closed", &all_but(&["wiz:W1", "wiz:W2"]));
        check(&db, "vstate:other", &["orca:O1"]);
        check(
            &db,
            "vendor_status:other(muted),dismissed",
            &["orca:O1", "wiz:W1"],
        );
        check(
            &db,
            "vstate:open",
            &all_but(&["wiz:W1", "wiz:W2", "orca:O1"]),
        );
    }

    #[test]
    fn sql_kev_epss_and_score_read_the_scored_columns() {
        let db = store();
        db.execute_batch(
            "UPDATE alerts SET kev = 1, epss = 0.94, score = 81 WHERE id = 'wiz:W2';
             UPDATE alerts SET epss = 0.05, score = 40 WHERE id = 'wiz:W1';",
        )
        .expect("score");
        check(&db, "kev:true", &["wiz:W2"]);
        check(&db, "kev:false", &all_but(&["wiz:W2"]));
        check(&db, "epss:>0.5", &["wiz:W2"]);
        check(&db, "epss:<0.5", &["wiz:W1"]);
        check(&db, "-epss:>0.5", &all_but(&["wiz:W2"]));
        check(&db, "score:>=70", &["wiz:W2"]);
        check(&db, "score:40", &["wiz:W1"]);
        check(&db, "sev:high score:>=70 kev:true", &["wiz:W2"]);
        check(&db, "score:<50", &all_but(&["wiz:W2"]));
    }

    #[test]
    fn sql_empty_query_matches_everything() {
        let db = store();
        check(&db, "", &ALL);
    }

    #[test]
    fn sql_severity() {
        let db = store();
        check(&db, "sev:critical", &["wiz:W1", "lacework:L1"]);
        check(
            &db,
            "sev:critical,high",
            &["wiz:W1", "wiz:W2", "lacework:L1", "lacework:L2"],
        );
        check(
            &db,
            "sev:>=high",
            &["wiz:W1", "wiz:W2", "lacework:L1", "lacework:L2"],
        );
        // An unrecognised vendor severity ranks, and so matches, with medium.
        check(
            &db,
            "sev:medium",
            &["prisma-prod:P1", "cortex-xdr:X1", "orca:O2"],
        );
        check(
            &db,
            "sev:<medium",
            &["prisma-compute:C1", "orca:O1", "wiz:W3"],
        );
        check(&db, "sev:<=info", &["orca:O1"]);
        check(
            &db,
            "-sev:>low",
            &["prisma-compute:C1", "orca:O1", "wiz:W3"],
        );
    }

    #[test]
    fn sql_vendor_source_status() {
        let db = store();
        check(&db, "vendor:wiz", &["wiz:W1", "wiz:W2", "wiz:W3"]);
        check(&db, "vendor:wiz sev:>=high", &["wiz:W1", "wiz:W2"]);
        check(
            &db,
            "-vendor:wiz",
            &all_but(&["wiz:W1", "wiz:W2", "wiz:W3"]),
        );
        check(&db, "vendor:lace", &["lacework:L1", "lacework:L2"]);
        check(
            &db,
            "vendor:prisma-cspm,prisma-compute",
            &["prisma-prod:P1", "prisma-compute:C1"],
        );
        check(&db, "source:prisma-prod", &["prisma-prod:P1"]);
        check(&db, "source:prisma-cspm", &[]);
        let open = [
            "wiz:W1",
            "wiz:W2",
            "prisma-prod:P1",
            "cortex-xdr:X1",
            "wiz:W3",
            "orca:O2",
            "lacework:L2",
        ];
        check(&db, "status:open", &open);
        check(&db, "-status:open", &all_but(&open));
        check(&db, "status:snoozed,dismissed", &["orca:O1", "lacework:L1"]);
        check(&db, "status:ack", &["wiz:W2", "lacework:L2"]);
    }

    #[test]
    fn sql_category_cloud_account_region_id() {
        let db = store();
        check(
            &db,
            "cat:vuln",
            &["wiz:W2", "prisma-compute:C1", "lacework:L2"],
        );
        check(&db, "cat:other", &["cortex-xdr:X1"]);
        check(&db, "cat:other(malware)", &["cortex-xdr:X1"]);
        check(&db, "cat:data,other", &["orca:O1", "cortex-xdr:X1"]);
        check(&db, "-cat:other", &all_but(&["cortex-xdr:X1"]));
        let aws = [
            "wiz:W1",
            "prisma-prod:P1",
            "lacework:L1",
            "orca:O2",
            "lacework:L2",
        ];
        check(&db, "cloud:aws", &aws);
        // Negation keeps rows whose cloud is unknown (NULL).
        check(&db, "-cloud:aws", &all_but(&aws));
        check(&db, "cloud:k8s", &["wiz:W2"]);
        check(&db, "cloud:other", &["cortex-xdr:X1"]);
        check(&db, "cloud:other(ibm)", &["cortex-xdr:X1"]);
        check(
            &db,
            "account:111111111111",
            &["wiz:W1", "wiz:W2", "orca:O2"],
        );
        check(
            &db,
            "-account:111111111111",
            &all_but(&["wiz:W1", "wiz:W2", "orca:O2"]),
        );
        check(
            &db,
            "region:us-east-1",
            &["wiz:W1", "wiz:W2", "lacework:L2"],
        );
        check(
            &db,
            "region:us-east-1,us-west-2",
            &["wiz:W1", "wiz:W2", "lacework:L2", "orca:O2"],
        );
        check(&db, "id:wiz:W1", &["wiz:W1"]);
        check(&db, "id:wiz:W1,orca:O1", &["wiz:W1", "orca:O1"]);
        check(&db, "id:wiz:w1", &[]);
    }

    #[test]
    fn sql_tags() {
        let db = store();
        // Keys and values compare without regard to (ASCII) case: W2 has Env=Prod.
        check(
            &db,
            "tag:env=prod",
            &["wiz:W1", "wiz:W2", "orca:O1", "orca:O2"],
        );
        check(
            &db,
            "tag:env",
            &["wiz:W1", "wiz:W2", "prisma-prod:P1", "orca:O1", "orca:O2"],
        );
        check(
            &db,
            "-tag:env",
            &all_but(&["wiz:W1", "wiz:W2", "prisma-prod:P1", "orca:O1", "orca:O2"]),
        );
        check(&db, "tag:env=prod tag:owner=sec", &["orca:O2"]);
        check(
            &db,
            "tag:env=prod -tag:team",
            &["wiz:W2", "orca:O1", "orca:O2"],
        );
        check(&db, "tag:env=pro", &[]);
        // Keys with quotes and spaces cannot escape a JSON path: there is none.
        check(&db, r#"tag:"we\"ird key"="x y""#, &["wiz:W3"]);
        check(&db, r#"tag:"we\"ird key""#, &["wiz:W3"]);
        check(&db, r#"tag:"$.env"=prod"#, &[]);
        check(&db, r#"tag:"env')--"=prod"#, &[]);
    }

    #[test]
    fn sql_tags_survive_a_malformed_tags_column() {
        let db = store();
        db.execute(
            "UPDATE alerts SET tags_json = 'not json' WHERE id = 'wiz:W1'",
            [],
        )
        .expect("update");
        check(&db, "tag:env=prod", &["wiz:W2", "orca:O1", "orca:O2"]);
    }

    #[test]
    fn sql_cves() {
        let db = store();
        check(&db, "cve:CVE-2021-44228", &["wiz:W2"]);
        check(&db, "cve:cve-2021-45046", &["wiz:W2"]);
        check(&db, "cve:CVE-2022-3602", &["prisma-compute:C1"]);
        check(&db, "cve:CVE-2021-4422", &[]);
        check(&db, "cve:2021-44228", &[]);
        check(
            &db,
            "cve:CVE-2021-45046,CVE-2023-38545",
            &["wiz:W2", "lacework:L2"],
        );
        check(
            &db,
            "cve:any",
            &["wiz:W2", "prisma-compute:C1", "lacework:L2"],
        );
        check(
            &db,
            "cve:none",
            &all_but(&["wiz:W2", "prisma-compute:C1", "lacework:L2"]),
        );
        check(
            &db,
            "-cve:any",
            &all_but(&["wiz:W2", "prisma-compute:C1", "lacework:L2"]),
        );
        check(&db, "cve:%", &[]);
    }

    #[test]
    fn sql_policy_resource_substrings() {
        let db = store();
        check(&db, "policy:public", &["wiz:W1", "orca:O1", "orca:O2"]);
        check(&db, "policy:\"bucket policy\"", &["orca:O2"]);
        check(&db, "policy:LW-", &["lacework:L1", "lacework:L2"]);
        // NULL policy columns: C1 has none; negation keeps it.
        check(
            &db,
            "-policy:public",
            &all_but(&["wiz:W1", "orca:O1", "orca:O2"]),
        );
        check(&db, "resource:arn:aws:s3", &["wiz:W1", "orca:O2"]);
        check(&db, "resource:ROOT", &["lacework:L1"]);
        check(&db, "resource:\"logs bucket\"", &["orca:O2"]);
        // LIKE wildcards are plain characters.
        check(&db, "resource:%", &[]);
        check(&db, "resource:_", &[]);
        check(&db, "policy:\"*\"", &["wiz:W3"]);
    }

    #[test]
    fn sql_assignee_ticket() {
        let db = store();
        check(
            &db,
            "assignee:none",
            &all_but(&["wiz:W2", "lacework:L1", "lacework:L2"]),
        );
        check(
            &db,
            "assignee:any",
            &["wiz:W2", "lacework:L1", "lacework:L2"],
        );
        check(&db, "assignee:alice", &["wiz:W2"]);
        check(&db, "assignee:\"bob smith\"", &["lacework:L1"]);
        check(
            &db,
            "assignee:alice,none -status:open",
            &["prisma-compute:C1", "orca:O1"],
        );
        check(&db, "-assignee:alice", &all_but(&["wiz:W2"]));
        check(&db, "ticket:none", &all_but(&["prisma-prod:P1", "orca:O1"]));
        check(&db, "ticket:any", &["prisma-prod:P1", "orca:O1"]);
        check(&db, "ticket:sec-101", &["prisma-prod:P1"]);
        check(&db, "ticket:SEC-1", &[]);
    }

    #[test]
    fn sql_age_uses_first_seen_then_sort_time() {
        let db = store();
        // X1 30m, C1 2h (no first_seen: sort_time), P1 3h, W1 exactly 1d.
        check(
            &db,
            "age:<1d",
            &["cortex-xdr:X1", "prisma-compute:C1", "prisma-prod:P1"],
        );
        check(
            &db,
            "age:<=1d",
            &[
                "cortex-xdr:X1",
                "prisma-compute:C1",
                "prisma-prod:P1",
                "wiz:W1",
            ],
        );
        check(&db, "age:<150m", &["cortex-xdr:X1", "prisma-compute:C1"]);
        check(
            &db,
            "age:>=1w",
            &["wiz:W2", "lacework:L1", "orca:O1", "orca:O2"],
        );
        check(&db, "age:>30d", &["lacework:L1"]);
        check(&db, "age:>2h age:<4h", &["prisma-prod:P1"]);
        check(
            &db,
            "-age:<1d",
            &all_but(&["cortex-xdr:X1", "prisma-compute:C1", "prisma-prod:P1"]),
        );
        // A different clock moves the window.
        let (sql, params) =
            to_sql(&parse("age:<1h").expect("parses"), NOW + 10 * DAY).expect("sql");
        let n: i64 = db
            .query_row(
                &format!("SELECT count(*) FROM alerts WHERE {sql}"),
                rusqlite::params_from_iter(params),
                |r| r.get(0),
            )
            .expect("count");
        assert_eq!(n, 0);
    }

    #[test]
    fn sql_text_search_words_prefixes_phrases() {
        let db = store();
        check(&db, "bucket", &["wiz:W1", "orca:O2"]);
        check(&db, "buck", &["wiz:W1", "orca:O2"]);
        check(&db, "\"buck\"", &[]);
        check(&db, "public", &["wiz:W1", "orca:O1", "orca:O2"]);
        check(&db, "PUBLIC bucket", &["wiz:W1", "orca:O2"]);
        check(&db, "\"public bucket\"", &["orca:O2"]);
        check(&db, "-\"public bucket\"", &all_but(&["orca:O2"]));
        check(&db, "public -bucket", &["orca:O1"]);
        check(&db, "log4", &["wiz:W2"]);
        // Resource and policy columns are searched too; punctuation splits words as in the index.
        check(&db, "bastion", &["prisma-prod:P1"]);
        check(&db, "prod-data", &["wiz:W1"]);
        check(&db, "ssh", &["prisma-prod:P1"]);
        check(&db, "bucket vendor:orca sev:medium", &["orca:O2"]);
        check(&db, "nothingmatchesthis", &[]);
    }

    #[test]
    fn sql_hostile_text_is_just_text() {
        let db = store();
        // FTS operators are words here, not syntax.
        check(&db, "\"NEAR\"", &["wiz:W3"]);
        check(&db, "\"OR\"", &["wiz:W3"]);
        check(&db, "\"AND\"", &[]);
        check(&db, "\"NOT\"", &[]);
        // Two words, `NEAR(open` and `port)`: punctuation separates words, it is not syntax.
        check(&db, "NEAR(open port)", &["wiz:W3"]);
        check(&db, "NEAR(open nowhere)", &[]);
        check(&db, "\"NEAR open port\"", &["wiz:W3"]);
        check(&db, "\"open port OR\"", &["wiz:W3"]);
        check(&db, "NOT", &[]);
        check(&db, "AND", &[]);
        check(&db, "ANY", &["prisma-prod:P1", "wiz:W3"]);
        // `OR` between field terms does not make an OR: it is a third (text) term.
        check(&db, "vendor:wiz OR vendor:orca", &[]);
        check(&db, "open*", &["prisma-compute:C1", "wiz:W3"]);
        check(&db, "^open", &["prisma-compute:C1", "wiz:W3"]);
        check(&db, "\"nc -e\"", &["cortex-xdr:X1"]);
        check(&db, r#""\"nc -e\"""#, &["cortex-xdr:X1"]);
        check(&db, r#"say"hi""#, &[]);
        check(&db, "\"a\u{0}b\"", &[]);
        check(&db, "x\u{301}", &[]);
        // A lone combining mark is no word: an error (triage::query's tests), not an FTS
        // surprise. U+0345 is alphabetic to Rust but may give the FTS tokenizer nothing: still
        // no error and no match.
        check(&db, "\"\u{345}\"", &[]);
        check(&db, "\u{345}", &[]);
        check(&db, "{title resource}:open", &[]);
        check(&db, "\"'; DROP TABLE alerts; --\"", &[]);
        check(&db, "policy:\"x'); DELETE FROM alerts; --\"", &[]);
        check(&db, "resource:\"' OR 1=1 --\"", &[]);
        check(&db, "id:\"' OR '1'='1\"", &[]);
        check(&db, "source:\"wiz' OR 'a'='a\"", &[]);
        check(&db, "account:1)OR(1", &[]);
        check(&db, "-\"' OR 1=1 --\"", &ALL);
        let n: i64 = db
            .query_row("SELECT count(*) FROM alerts", [], |r| r.get(0))
            .expect("count");
        assert_eq!(n, 10);
    }

    #[test]
    fn sql_parameters_are_bound_never_inlined() {
        let hostile =
            "policy:\"zz'; DROP TABLE alerts; --\" tag:\"k'\"=\"v'\" resource:qq\"'\" \"mm'\"";
        let (sql, params) = to_sql(&parse(hostile).expect("parses"), NOW).expect("sql");
        assert!(
            !sql.contains("zz") && !sql.contains("qq") && !sql.contains("mm"),
            "{sql}"
        );
        assert!(!sql.contains("DROP"), "{sql}");
        assert_eq!(sql.matches('?').count(), params.len());
        assert_eq!(params[0], Value::Text("zz'; DROP TABLE alerts; --".into()));
    }

    #[test]
    fn sql_typical_query_uses_an_index() {
        let db = store();
        for q in [
            "vendor:wiz sev:>=high",
            "status:open sev:>=high",
            "account:111111111111",
            "id:wiz:W1",
            "sev:critical",
            "vendor:wiz",
            "status:acknowledged",
            "tag:env=prod",
            "tag:env",
            "cve:CVE-2021-44228",
            "cve:CVE-2021-44228,CVE-2023-38545",
            "bucket",
        ] {
            let (sql, params) = to_sql(&parse(q).expect("parses"), NOW).expect("sql");
            let mut stmt = db
                .prepare(&format!(
                    "EXPLAIN QUERY PLAN SELECT id FROM alerts WHERE {sql}"
                ))
                .expect("prepare");
            let plan: Vec<String> = stmt
                .query_map(rusqlite::params_from_iter(params), |r| {
                    r.get::<_, String>(3)
                })
                .and_then(|rows| rows.collect())
                .expect("plan");
            // A scan of the table itself (not of alerts_fts) reads every row.
            let scans = plan
                .iter()
                .any(|l| l == "SCAN alerts" || l.starts_with("SCAN alerts "));
            let plan = plan.join(" | ");
            assert!(
                [
                    "USING INDEX",
                    "USING COVERING INDEX",
                    "USING INTEGER PRIMARY KEY"
                ]
                .iter()
                .any(|how| plan.contains(how)),
                "{q}: {plan}"
            );
            assert!(!scans, "{q}: {plan}");
        }
    }
}
