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
//! - Incremental: `filterBy: {updatedAt: {after: since}}` on both connections. The filter
//!   field is UNCONFIRMED: when the server answers that `updatedAt` is not a filter field, the
//!   issues pass falls back to `statusChangedAt` (which XSOAR's mirroring uses) and the
//!   vulnerability pass to no time filter (everything). `options.incremental_filter` forces
//!   the issues field.
//! - GraphQL errors come inside HTTP 200: codes such as `INTERNAL`, `RATE_LIMIT…`,
//!   `SERVICE_UNAVAILABLE`, `TIMEOUT` (or messages saying "rate limit" / "try again") are
//!   retried with the transport's backoff; `UNAUTHENTICATED` / `FORBIDDEN` is an
//!   authentication failure; anything else fails the run with the server's message.
//! - Write-back: `updateIssue` (OPEN to reopen, IN_PROGRESS, REJECTED to dismiss; the reason
//!   and note go into `patch.note`; `resolutionReason` is not sent, its enum being
//!   UNCONFIRMED) and `createIssueNote`. RESOLVED is not sent unless
//!   `options.allow_resolve = "true"` (UNCONFIRMED; Wiz resolves issues itself on re-scan).

use std::time::Duration;

use serde_json::{Value, json};

use crate::config::{Secret, SourceConfig};
use crate::domain::{EpochMs, Status, Vendor};
use crate::sources::api::{
    ApiError, AuthToken, PageSink, Session, Transport, Window, WriteBack, WriteOutcome,
};

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
    /// The issues time-filter field (learned: falls back when the server refuses one).
    issue_filter: String,
    /// Whether `vulnerabilityFindings` accepts `updatedAt` (learned).
    vuln_filter: bool,
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
        let issue_filter = match cfg.option("incremental_filter").map(str::trim) {
            None | Some("") => "updatedAt".to_string(),
            Some(f @ ("updatedAt" | "statusChangedAt" | "createdAt")) => f.to_string(),
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
            issue_filter,
            vuln_filter: true,
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
        // Issues, falling back to statusChangedAt if the server refuses updatedAt.
        loop {
            let filter = since.as_ref().map(|t| date_filter(&self.issue_filter, t));
            match self.pass(ISSUES_QUERY, "issues", filter, true, sink).await {
                Err(ApiError::Vendor { detail, .. })
                    if since.is_some()
                        && self.issue_filter == "updatedAt"
                        && refuses_field(&detail, "updatedAt") =>
                {
                    tracing::warn!(source = %self.name, "Wiz refused filterBy.updatedAt on issues; using statusChangedAt");
                    self.issue_filter = "statusChangedAt".into();
                }
                other => {
                    other?;
                    break;
                }
            }
        }
        if !self.vulnerabilities {
            return Ok(());
        }
        loop {
            let filter = match (&since, self.vuln_filter) {
                (Some(t), true) => Some(date_filter("updatedAt", t)),
                _ => None,
            };
            match self
                .pass(VULNS_QUERY, "vulnerabilityFindings", filter, false, sink)
                .await
            {
                Err(ApiError::Vendor { detail, .. })
                    if since.is_some()
                        && self.vuln_filter
                        && refuses_field(&detail, "updatedAt") =>
                {
                    tracing::warn!(source = %self.name, "Wiz refused filterBy.updatedAt on vulnerabilityFindings; fetching them all");
                    self.vuln_filter = false;
                }
                other => return other,
            }
        }
    }

    /// Page one connection to its end.
    async fn pass(
        &self,
        query: &str,
        key: &str,
        filter: Option<Value>,
        ordered: bool,
        sink: &mut dyn PageSink,
    ) -> Result<(), ApiError> {
        let mut after: Option<String> = None;
        loop {
            let mut vars = json!({"first": self.page_size, "after": after});
            if let Some(f) = &filter {
                vars["filterBy"] = f.clone();
            }
            if ordered {
                vars["orderBy"] = json!({"field": "CREATED_AT", "direction": "ASC"});
            }
            let v = self.graphql(query, vars).await?;
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

/// Does a GraphQL error message say that `field` is not a known (filter) field?
fn refuses_field(detail: &str, field: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    detail.contains(&format!("\"{field}\""))
        && (d.contains("not defined") || d.contains("unknown") || d.contains("not exist"))
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

impl crate::sources::api::SourceClient for Client {
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
        assert!(refuses_field(
            "Variable \"$filterBy\" got invalid value; Field \"updatedAt\" is not defined by type \"IssueFilters\".",
            "updatedAt"
        ));
    }
}
