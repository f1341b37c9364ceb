//! Wiz: OAuth client credentials, then GraphQL with cursor paging.
//!
//! - Token: form POST `grant_type=client_credentials&audience=<audience>&client_id&client_secret`
//!   to `auth_url` (default `https://auth.app.wiz.io/oauth/token`, audience `wiz-api`; legacy
//!   Auth0 tenants set `auth_url = "https://auth.wiz.io/oauth/token"` and
//!   `options.audience = "beyond-api"`). The token is renewed a minute (or a tenth of its
//!   life) before `expires_in` runs out.
//! - Data: `POST {base_url}/graphql` (a `base_url` that already ends in `/graphql` is used as
//!   is) with `Authorization: Bearer`. Two connections are paged, each with its own cursor:
//!   `issuesV2` (aliased `issues`, ordered `CREATED_AT ASC`) and `vulnerabilityFindings`
//!   (`options.vulnerabilities = "false"` skips it). `first` is `page_size` clamped to 500.
//! - Incremental: the filter candidates (see [`SourceClient::incremental_filters`]) are
//!   [`BY_STATUS_CHANGE`] — issues by `filterBy.statusChangedAt` ordered `STATUS_CHANGED_AT`
//!   ascending (as XSOAR's Wiz mirroring does), vulnerability findings by
//!   `filterBy.updatedAt` (UNCONFIRMED) — then [`ISSUES_ONLY`], the same for issues with every
//!   vulnerability finding read in full. `options.incremental_filter` (`statusChangedAt`,
//!   `updatedAt` or `createdAt`) replaces them with that issues field alone. Any error that
//!   is not transient or an authentication failure on the first page of a filtered pass is
//!   taken as the filter refused ([`ApiError::FilterRefused`]), whatever its wording: the sync
//!   engine then runs in full and moves to the next candidate.
//! - GraphQL errors come inside HTTP 200: codes such as `INTERNAL`, `RATE_LIMIT…`,
//!   `SERVICE_UNAVAILABLE`, `TIMEOUT` (or messages saying "rate limit" / "try again") are
//!   retried with the transport's backoff; `UNAUTHENTICATED` / `FORBIDDEN` is an
//!   authentication failure; anything else fails the run with the server's message.
//! - Write-back: `updateIssue` (OPEN to reopen, IN_PROGRESS, REJECTED to dismiss, always with
//!   a `resolutionReason` as public integrations send one: `FALSE_POSITIVE` for a false
//!   positive, `WONT_FIX` otherwise (the enum is UNCONFIRMED beyond the values integrations
//!   use); the reason and note go into `patch.note`) and `createIssueNote`. Both mutations take
//!   issue ids only: a vulnerability finding is refused before anything is queued
//!   ([`refuse_write_back`]). RESOLVED is not sent unless `options.allow_resolve = "true"`
//!   (UNCONFIRMED; Wiz resolves issues itself on re-scan).

use std::time::Duration;

use serde_json::{Value, json};

use crate::config::{Secret, SourceConfig};
use crate::domain::{Alert, DismissReason, EpochMs, Status, Vendor};
use crate::sources::api::{
    ApiError, AuthToken, PageSink, Session, SourceClient, Transport, Window, WriteBack,
    WriteOutcome,
};

/// Incremental filter: issues by `statusChangedAt`, vulnerability findings by `updatedAt`.
pub const BY_STATUS_CHANGE: &str = "issues.statusChangedAt+vulnerabilityFindings.updatedAt";
/// Incremental filter: issues by `statusChangedAt`, vulnerability findings in full.
pub const ISSUES_ONLY: &str = "issues.statusChangedAt";
/// `options.incremental_filter` values: the issues field alone, vulnerability findings in full.
const FORCED: [(&str, &str); 3] = [
    ("statusChangedAt", ISSUES_ONLY),
    ("updatedAt", "issues.updatedAt"),
    ("createdAt", "issues.createdAt"),
];

/// Why a Wiz alert cannot be written back: `updateIssue` and `createIssueNote` take issue ids,
/// and a vulnerability finding's id is not one.
pub fn refuse_write_back(alert: &Alert) -> Option<&'static str> {
    super::map::is_vulnerability_finding(alert.raw.value()).then_some(
        "Wiz's updateIssue and createIssueNote take issue ids only, and this is a vulnerability finding (change it in Wiz, or through the issue that holds it)",
    )
}

pub const DEFAULT_AUTH_URL: &str = "https://auth.app.wiz.io/oauth/token";
pub const MAX_PAGE: u32 = 500;

const ISSUES_QUERY: &str = r#"query IssuesTable($filterBy: IssueFilters, $first: Int, $after: String, $orderBy: IssueOrder) {
  issues: issuesV2(filterBy: $filterBy, first: $first, after: $after, orderBy: $orderBy) {
    nodes {
      id type status severity createdAt updatedAt dueAt resolvedAt statusChangedAt
      sourceRule {
        __typename
        ... on Control { id name controlDescription: description resolutionRecommendation
          securitySubCategories { title category { name framework { name } } } }
        ... on CloudEventRule { id name cloudEventRuleDescription: description sourceType type }
        ... on CloudConfigurationRule { id name cloudConfigurationRuleDescription: description
          remediationInstructions serviceType
          securitySubCategories { title category { name framework { name } } } }
      }
      projects { id name slug businessUnit riskProfile { businessImpact } }
      entitySnapshot { id type nativeType name status cloudPlatform cloudProviderURL providerId
        region resourceGroupExternalId subscriptionExternalId subscriptionName subscriptionTags
        tags externalId }
      serviceTickets { externalId name url }
      notes { id createdAt updatedAt text user { name email } serviceAccount { name } }
    }
    pageInfo { hasNextPage endCursor }
  }
}"#;

const VULNS_QUERY: &str = r#"query VulnerabilityFindings($filterBy: VulnerabilityFindingFilters, $first: Int, $after: String) {
  vulnerabilityFindings(filterBy: $filterBy, first: $first, after: $after) {
    nodes {
      id portalUrl name CVEDescription CVSSSeverity score dataSourceName hasExploit
      hasCisaKevExploit status vendorSeverity firstDetectedAt lastDetectedAt resolvedAt
      description remediation detailedName version fixedVersion detectionMethod link
      locationPath resolutionReason validatedInRuntime
      layerMetadata { id details isBaseLayer }
      projects { id name slug businessUnit riskProfile { businessImpact } }
      ignoreRules { id }
      vulnerableAsset {
        ... on VulnerableAssetBase { id type name region providerUniqueId cloudProviderURL
          cloudPlatform status subscriptionName subscriptionExternalId subscriptionId tags
          hasLimitedInternetExposure hasWideInternetExposure isAccessibleFromVPN
          isAccessibleFromOtherVnets isAccessibleFromOtherSubscriptions }
        ... on VulnerableAssetVirtualMachine { operatingSystem ipAddresses }
        ... on VulnerableAssetServerless { runtime }
        ... on VulnerableAssetContainer { ImageExternalId PodNamespace PodName NodeName ServerlessContainer }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}"#;

const UPDATE_ISSUE: &str = r#"mutation UpdateIssue($issueId: ID!, $patch: UpdateIssuePatch) {
  updateIssue(input: {id: $issueId, patch: $patch}) {
    issue { id status dueAt resolutionReason notes { id text } }
  }
}"#;

const CREATE_NOTE: &str = r#"mutation CreateIssueComment($input: CreateIssueNoteInput!) {
  createIssueNote(input: $input) {
    issueNote { id text createdAt }
  }
}"#;

/// How a GraphQL `errors[]` is handled.
#[derive(Debug, PartialEq, Eq)]
enum GqlError {
    Transient(String),
    Unauthenticated(String),
    Fatal(String),
}

pub struct Client {
    transport: Transport,
    session: Session,
    name: String,
    graphql_url: String,
    token_url: String,
    audience: String,
    client_id: Secret,
    client_secret: Secret,
    page_size: u32,
    vulnerabilities: bool,
    allow_resolve: bool,
    /// `options.incremental_filter`, as its candidate name.
    forced_filter: Option<&'static str>,
}

impl Client {
    pub fn new(cfg: &SourceConfig, transport: Transport) -> Result<Client, ApiError> {
        let client_id = cfg.secret("client_id").map_err(ApiError::Config)?;
        let client_secret = cfg.secret("client_secret").map_err(ApiError::Config)?;
        let base = cfg.base_url.trim_end_matches('/');
        let graphql_url = if base.ends_with("/graphql") {
            base.to_string()
        } else {
            format!("{base}/graphql")
        };
        let flag = |k: &str, default: bool| match cfg.option(k).map(str::trim) {
            Some("false" | "no" | "0") => false,
            Some("true" | "yes" | "1") => true,
            _ => default,
        };
        let forced_filter = match cfg.option("incremental_filter").map(str::trim) {
            None | Some("") => None,
            Some(f) if FORCED.iter().any(|(k, _)| *k == f) => {
                FORCED.iter().find(|(k, _)| *k == f).map(|(_, v)| *v)
            }
            Some(other) => {
                return Err(ApiError::Config(format!(
                    "source '{}': options.incremental_filter '{}' must be updatedAt, statusChangedAt or createdAt",
                    cfg.name,
                    crate::sanitize::one_line(other)
                )));
            }
        };
        Ok(Client {
            transport,
            session: Session::new(),
            name: cfg.name.clone(),
            graphql_url,
            token_url: cfg
                .auth_url
                .clone()
                .unwrap_or_else(|| DEFAULT_AUTH_URL.to_string()),
            audience: cfg.option("audience").unwrap_or("wiz-api").to_string(),
            client_id,
            client_secret,
            page_size: cfg.page_size.unwrap_or(MAX_PAGE).clamp(1, MAX_PAGE),
            vulnerabilities: flag("vulnerabilities", true),
            allow_resolve: flag("allow_resolve", false),
            forced_filter,
        })
    }

    async fn login(&self) -> Result<AuthToken, ApiError> {
        let form = [
            ("grant_type", "client_credentials"),
            ("audience", self.audience.as_str()),
            ("client_id", self.client_id.expose()),
            ("client_secret", self.client_secret.expose()),
        ];
        let build = || self.transport.http().post(&self.token_url).form(&form);
        let refused = |d: String| {
            ApiError::Unauthorized(format!(
                "source '{}': the Wiz token endpoint {} refused the client credentials ({d})",
                self.name, self.token_url
            ))
        };
        let (_, body) = match self.transport.json(&build).await {
            Ok(r) => r,
            Err(ApiError::Unauthorized(d)) => return Err(refused(d)),
            Err(ApiError::Http {
                status: 400,
                detail,
                ..
            }) => return Err(refused(format!("HTTP 400: {detail}"))),
            Err(e) => return Err(e),
        };
        let token = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Malformed {
                what: format!("the Wiz token endpoint of '{}'", self.name),
                detail: "no access_token in the token response".into(),
            })?;
        let lifetime = match body.get("expires_in") {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .filter(|s| *s > 0.0)
        .map(Duration::from_secs_f64);
        let margin = lifetime.map_or(Duration::from_secs(60), |l| {
            Duration::from_secs(60).min(l / 10)
        });
        Ok(AuthToken::expiring(token.to_string(), lifetime, margin))
    }

    /// One GraphQL request; transient GraphQL errors are retried with backoff.
    async fn graphql(
        &self,
        query: &str,
        variables: Value,
    ) -> Result<crate::sources::Page, ApiError> {
        let body = json!({"query": query, "variables": variables});
        let build = |token: &str| {
            self.transport
                .http()
                .post(&self.graphql_url)
                .bearer_auth(token)
                .json(&body)
        };
        let mut attempt = 0;
        loop {
            // A list reply keeps its nodes as text, to be mapped one by one; any other reply
            // (a mutation's) is parsed whole.
            let (_, v) = self
                .session
                .page(
                    super::map::ITEM_PATHS,
                    &self.transport,
                    &|_previous| Box::pin(self.login()),
                    &build,
                )
                .await?;
            match classify(&v) {
                None => return Ok(v),
                Some(GqlError::Transient(msg)) => {
                    tracing::debug!(source = %self.name, %msg, "transient GraphQL error; retrying");
                    if !self.transport.retry_pause(attempt).await {
                        return Err(ApiError::Vendor {
                            what: self.transport.what().to_string(),
                            detail: format!("{msg} (still failing after {attempt} retries)"),
                        });
                    }
                    attempt += 1;
                }
                Some(GqlError::Unauthenticated(msg)) => {
                    return Err(ApiError::Unauthorized(format!(
                        "{}: {msg}",
                        self.transport.what()
                    )));
                }
                Some(GqlError::Fatal(msg)) => {
                    return Err(ApiError::Vendor {
                        what: self.transport.what().to_string(),
                        detail: msg,
                    });
                }
            }
        }
    }

    async fn fetch(&mut self, window: Window, sink: &mut dyn PageSink) -> Result<(), ApiError> {
        let since = window.since.map(rfc3339);
        let chosen = window.pick(&self.filters());
        // (issues field, whether vulnerability findings are filtered by updatedAt)
        let (issue_field, vuln_filtered) = match chosen {
            None => (None, false),
            Some(BY_STATUS_CHANGE) => (Some("statusChangedAt"), true),
            Some(name) => (
                Some(name.strip_prefix("issues.").unwrap_or("statusChangedAt")),
                false,
            ),
        };
        let issue_filter = issue_field.zip(since.as_ref());
        let order = match issue_filter {
            Some(("statusChangedAt", _)) => "STATUS_CHANGED_AT",
            _ => "CREATED_AT",
        };
        self.pass(
            ISSUES_QUERY,
            "issues",
            issue_filter.map(|(f, t)| date_filter(f, t)),
            Some(order),
            chosen,
            sink,
        )
        .await?;
        if !self.vulnerabilities {
            return Ok(());
        }
        let vuln_filter = since
            .as_ref()
            .filter(|_| vuln_filtered)
            .map(|t| date_filter("updatedAt", t));
        let refusable = chosen.filter(|_| vuln_filtered);
        self.pass(
            VULNS_QUERY,
            "vulnerabilityFindings",
            vuln_filter,
            None,
            refusable,
            sink,
        )
        .await
    }

    /// The incremental filter candidates, best first.
    fn filters(&self) -> Vec<&'static str> {
        match self.forced_filter {
            Some(f) => vec![f],
            None => vec![BY_STATUS_CHANGE, ISSUES_ONLY],
        }
    }

    /// Page one connection to its end.
    ///
    /// `refusable`: the incremental filter `filter` belongs to; an error on the first page
    /// that is neither transient nor an authentication failure is then that filter refused.
    async fn pass(
        &self,
        query: &str,
        key: &str,
        filter: Option<Value>,
        order: Option<&str>,
        refusable: Option<&'static str>,
        sink: &mut dyn PageSink,
    ) -> Result<(), ApiError> {
        let mut after: Option<String> = None;
        loop {
            let mut vars = json!({"first": self.page_size, "after": after});
            if let Some(f) = &filter {
                vars["filterBy"] = f.clone();
            }
            if let Some(field) = order {
                vars["orderBy"] = json!({"field": field, "direction": "ASC"});
            }
            let v = match (self.graphql(query, vars).await, refusable, &after, &filter) {
                (Err(ApiError::Vendor { what, detail }), Some(f), None, Some(_)) => {
                    return Err(ApiError::FilterRefused {
                        what,
                        filter: f.to_string(),
                        detail,
                    });
                }
                (Err(e), Some(f), None, Some(_)) => return Err(e.as_filter_refusal(f)),
                (r, ..) => r?,
            };
            let malformed = |detail: String| ApiError::Malformed {
                what: self.transport.what().to_string(),
                detail,
            };
            let conn = v
                .get("data")
                .and_then(|d| d.get(key))
                .filter(|c| c.is_object())
                .ok_or_else(|| malformed(format!("the response has no data.{key} connection")))?;
            let info = conn.get("pageInfo");
            let has_next = info
                .and_then(|p| p.get("hasNextPage"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let next = info
                .and_then(|p| p.get("endCursor"))
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(str::to_string);
            let alerts = crate::vendors::map_page(Vendor::Wiz, &self.name, v)
                .map_err(|e| malformed(format!("a {key} page does not map: {e}")))?;
            sink.page(alerts)?;
            if !has_next {
                return Ok(());
            }
            let next =
                next.ok_or_else(|| malformed(format!("{key}: hasNextPage without an endCursor")))?;
            if after.as_deref() == Some(next.as_str()) {
                return Err(malformed(format!("{key}: the cursor did not advance")));
            }
            after = Some(next);
        }
    }

    async fn write_back(&mut self, action: &WriteBack) -> Result<WriteOutcome, ApiError> {
        match action {
            WriteBack::Comment { native_id, text } => {
                let v = self
                    .graphql(
                        CREATE_NOTE,
                        json!({"input": {"issueId": native_id, "text": text}}),
                    )
                    .await?;
                self.expect_data(&v, "createIssueNote")?;
                Ok(WriteOutcome::Done)
            }
            WriteBack::SetStatus {
                native_id,
                status,
                note,
            } => {
                let (wiz_status, reason) = match status {
                    Status::New => ("OPEN", None),
                    Status::InProgress => ("IN_PROGRESS", None),
                    Status::Dismissed { until: Some(_), .. } => {
                        return Ok(WriteOutcome::Unsupported(
                            "Wiz's API has no documented way to reject an issue for a limited time",
                        ));
                    }
                    Status::Dismissed { reason, note, .. } => (
                        "REJECTED",
                        Some(match note {
                            Some(n) if !n.trim().is_empty() => {
                                format!("Dismissed ({}): {n}", reason.as_str())
                            }
                            _ => format!("Dismissed ({})", reason.as_str()),
                        }),
                    ),
                    Status::Resolved { reason } if self.allow_resolve => {
                        ("RESOLVED", Some(format!("Resolved: {reason}")))
                    }
                    Status::Resolved { .. } => {
                        return Ok(WriteOutcome::Unsupported(
                            "Wiz resolves issues itself when a scan finds them fixed; setting RESOLVED through the API is not documented (set options.allow_resolve = \"true\" to try)",
                        ));
                    }
                    Status::Acknowledged => {
                        return Ok(WriteOutcome::Unsupported(
                            "Wiz issues have no acknowledged state (use in progress)",
                        ));
                    }
                    Status::Snoozed { .. } => {
                        return Ok(WriteOutcome::Unsupported(
                            "Wiz issues cannot be snoozed through the API",
                        ));
                    }
                };
                let text = match (reason, note) {
                    (Some(r), Some(n)) if !n.trim().is_empty() => Some(format!("{r}\n{n}")),
                    (Some(r), _) => Some(r),
                    (None, Some(n)) if !n.trim().is_empty() => Some(n.clone()),
                    _ => None,
                };
                let mut patch = json!({"status": wiz_status});
                if let Status::Dismissed { reason, .. } = status {
                    patch["resolutionReason"] = json!(resolution_reason(*reason));
                }
                if let Some(t) = text {
                    patch["note"] = Value::String(t);
                }
                let v = self
                    .graphql(UPDATE_ISSUE, json!({"issueId": native_id, "patch": patch}))
                    .await?;
                self.expect_data(&v, "updateIssue")?;
                Ok(WriteOutcome::Done)
            }
        }
    }

    fn expect_data(&self, v: &Value, field: &str) -> Result<(), ApiError> {
        match v.get("data").and_then(|d| d.get(field)) {
            Some(x) if !x.is_null() => Ok(()),
            _ => Err(ApiError::Malformed {
                what: self.transport.what().to_string(),
                detail: format!("the {field} response has no data.{field}"),
            }),
        }
    }
}

/// The `resolutionReason` a rejection carries: public integrations always send one (XSOAR's
/// Wiz `reject_issue` refuses to run without it). `FALSE_POSITIVE` and `WONT_FIX` are values
/// integrations use; the full enum is UNCONFIRMED, so every other reason maps to `WONT_FIX`.
pub fn resolution_reason(reason: DismissReason) -> &'static str {
    match reason {
        DismissReason::FalsePositive => "FALSE_POSITIVE",
        DismissReason::AcceptedRisk
        | DismissReason::Duplicate
        | DismissReason::NotApplicable
        | DismissReason::Other => "WONT_FIX",
    }
}

/// `{<field>: {after: <t>}}`
fn date_filter(field: &str, after: &str) -> Value {
    let mut m = serde_json::Map::new();
    m.insert(field.to_string(), json!({ "after": after }));
    Value::Object(m)
}

fn rfc3339(ms: EpochMs) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// Sort a response's `errors[]`: None when there are none.
fn classify(v: &Value) -> Option<GqlError> {
    let errors = v.get("errors")?.as_array()?;
    let first = errors.first()?;
    let message: String = first
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| first.to_string());
    let code = first
        .pointer("/extensions/code")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_uppercase();
    let mut msg = crate::sanitize::one_line(&message);
    msg.truncate(msg.chars().take(300).map(char::len_utf8).sum());
    if !code.is_empty() {
        msg = format!("{msg} [{code}]");
    }
    if errors.len() > 1 {
        msg.push_str(&format!(" (and {} more)", errors.len() - 1));
    }
    let lower = message.to_ascii_lowercase();
    if matches!(
        code.as_str(),
        "UNAUTHENTICATED" | "UNAUTHORIZED" | "FORBIDDEN"
    ) {
        return Some(GqlError::Unauthenticated(msg));
    }
    let transient_code = code.starts_with("INTERNAL")
        || code.contains("RATE_LIMIT")
        || code.contains("TOO_MANY")
        || code.contains("THROTTL")
        || code.contains("UNAVAILABLE")
        || code.contains("TIMEOUT");
    let transient_text = lower.contains("rate limit")
        || lower.contains("too many requests")
        || lower.contains("try again")
        || lower.contains("timed out");
    if transient_code || (code.is_empty() && transient_text) {
        Some(GqlError::Transient(msg))
    } else {
        Some(GqlError::Fatal(msg))
    }
}

impl SourceClient for Client {
    fn fetch<'a>(
        &'a mut self,
        window: Window,
        sink: &'a mut dyn PageSink,
    ) -> futures_util::future::BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(Client::fetch(self, window, sink))
    }

    fn write_back<'a>(
        &'a mut self,
        action: &'a WriteBack,
    ) -> futures_util::future::BoxFuture<'a, Result<WriteOutcome, ApiError>> {
        Box::pin(Client::write_back(self, action))
    }

    fn stats(&self) -> &crate::sources::api::Stats {
        self.transport.stats()
    }

    fn incremental_filters(&self) -> Vec<&'static str> {
        self.filters()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphql_errors_are_sorted() {
        assert_eq!(classify(&json!({"data": {"issues": {}}})), None);
        assert!(matches!(
            classify(&json!({"errors": [{"message": "boom", "extensions": {"code": "INTERNAL"}}]})),
            Some(GqlError::Transient(_))
        ));
        assert!(matches!(
            classify(&json!({"errors": [{"message": "Rate limit exceeded"}]})),
            Some(GqlError::Transient(_))
        ));
        assert!(matches!(
            classify(
                &json!({"errors": [{"message": "Field \"x\" is not defined", "extensions": {"code": "BAD_USER_INPUT"}}]})
            ),
            Some(GqlError::Fatal(_))
        ));
        assert!(matches!(
            classify(
                &json!({"errors": [{"message": "no", "extensions": {"code": "UNAUTHENTICATED"}}]})
            ),
            Some(GqlError::Unauthenticated(_))
        ));
    }
}
