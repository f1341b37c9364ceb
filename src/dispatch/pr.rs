//! An approved fix as a pull request (issue 22 part 4): `sitrep pr ID` and the console's key.
//!
//! Asking ([`request`]) checks that the alert's current diff is approved — by the approval
//! records *and* by their entries in the audit log — and records one decision whose outbox row
//! carries everything the delivery needs (never a token). Delivering ([`deliver`]) commits the
//! diff on `sitrep/fix-<sha>` with git plumbing (`patch::apply`), pushes that branch to the
//! checkout's remote without force (`patch::push`), and opens the request on GitHub or GitLab.
//! Exactly once: the branch, the push and the request are each found before they are made
//! again; after an attempt that may have created the request (a lost response), the retry looks
//! for it by its head branch first, and a forge that answers "already exists" is asked for it.
//! [`poll`] follows each open request until it is merged or closed.

use std::path::PathBuf;

use crate::config::Config;
use crate::config::pr::{Forge, PrTarget};
use crate::domain::EpochMs;
use crate::store::{
    Decision, Finish, LocalChange, OutboxItem, OutboxKind, OutboxRow, PrLink, Store, StoreError,
    StoredAlert,
};

use super::DispatchError;
use super::forge::{Created, ForgeClient, NewPr, PrInfo};
use super::outcome::{DecideError, Outcome};
use super::recorder::Recorder;

/// The payload of a pull-request row: what to commit, where to push, what to open.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PrPayload {
    pub repo: PathBuf,
    pub branch: String,
    pub diff: String,
    pub diff_sha256: String,
    pub message: String,
    pub author: String,
    pub remote: String,
    pub forge: String,
    pub api_url: String,
    pub project: String,
    pub base: String,
    pub title: String,
    pub body: String,
    /// The alert's ticket, told about the request once it is open.
    pub ticket: Option<TicketRef>,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TicketRef {
    pub system: String,
    pub key: String,
    pub id: String,
    pub url: String,
}

/// Queue the pull request of the alert's approved diff (`proposal`: 1-based, None: the first
/// diff). Refused, with nothing recorded, unless the diff is approved and audited.
pub fn request(
    store: &mut Store,
    config: &Config,
    actor: &str,
    alert_id: &str,
    proposal: Option<usize>,
    now: EpochMs,
) -> Result<Outcome, DecideError> {
    request_with(
        &mut Recorder::Local,
        store,
        config,
        actor,
        alert_id,
        proposal,
        now,
    )
}

/// [`request`], recorded through `rec` (the local store, or the team store).
pub fn request_with(
    rec: &mut Recorder<'_>,
    store: &mut Store,
    config: &Config,
    actor: &str,
    alert_id: &str,
    proposal: Option<usize>,
    now: EpochMs,
) -> Result<Outcome, DecideError> {
    let Some(alert) = store.get(alert_id)? else {
        return Err(StoreError::NotFound(alert_id.to_string()).into());
    };
    let (sha, _title, chosen) = super::outcome::chosen_proposal(config, &alert, proposal)?;
    let crate::remediate::ProposalKind::Diff { repo, .. } = &chosen.kind else {
        return Err(DecideError::Refused(
            "no pull request: the fix is a standalone snippet, not a diff against a mapped IaC checkout".into(),
        ));
    };
    let approvers = approved_by(store, config, &alert.id, &sha, now)?;
    let checkout = config
        .iac
        .repos
        .iter()
        .find(|r| &r.path == repo)
        .ok_or_else(|| {
            DecideError::Refused(format!(
                "no [[iac]] table for {}",
                crate::sanitize::one_line(&repo.display().to_string())
            ))
        })?;
    let target = config
        .pr
        .target(&checkout.pr, &checkout.path)
        .map_err(DecideError::Refused)?;
    let short = &sha[..12.min(sha.len())];
    let fp = super::content::fingerprint(store.group_key(&alert.id)?.as_deref(), &alert.id);
    let ticket = store.ticket(&fp)?.map(|t| TicketRef {
        system: t.system,
        key: t.key,
        id: t.native_id,
        url: t.url,
    });
    let title =
        crate::sanitize::one_line(&format!("sitrep: {} ({})", chosen.title, alert.alert.title));
    let body = body(store, config, &alert, &chosen, &approvers, ticket.as_ref());
    let payload = PrPayload {
        repo: repo.clone(),
        branch: format!("sitrep/fix-{short}"),
        diff: chosen.text.clone(),
        diff_sha256: sha.clone(),
        message: format!(
            "{}\n\nAlert: {}\nApproved by: {}",
            crate::sanitize::one_line(&chosen.title),
            crate::sanitize::one_line(&alert.id),
            approvers.join(", ")
        ),
        author: approvers
            .first()
            .cloned()
            .unwrap_or_else(|| "sitrep".into()),
        remote: target.remote.clone(),
        forge: target.forge.as_str().into(),
        api_url: target.api_url.clone(),
        project: target.repo.clone(),
        base: target.base.clone(),
        title,
        body,
        ticket,
    };
    let item = OutboxItem {
        // One request per alert and diff, however often it is asked for.
        dedup_key: format!("pr:{}:{sha}", alert.id),
        alert_id: Some(alert.id.clone()),
        kind: OutboxKind::PullRequest,
        destination: format!("{}:{}", target.forge.as_str(), target.repo),
        payload: serde_json::to_value(&payload).unwrap_or_default(),
    };
    let d = Decision {
        alert_id: alert.id.clone(),
        actor: actor.to_string(),
        at: now,
        change: LocalChange::PullRequest {
            diff_sha256: sha.clone(),
        },
        outbox: vec![item],
        audit_detail: serde_json::json!({
            "diff_sha256": sha,
            "forge": target.forge.as_str(),
            "repo": target.repo,
            "branch": payload.branch,
            "approvers": approvers,
        }),
    };
    let mut out = Outcome {
        alert_id: alert.id.clone(),
        ..Outcome::default()
    };
    rec.record(store, &d, &mut out)?;
    let mut notes = vec![format!(
        "pull request of diff {short} queued for {} {} (branch {})",
        target.forge.label(),
        crate::sanitize::one_line(&target.repo),
        payload.branch
    )];
    match &out.team {
        // Team mode, not (yet) applied: the recorder's notes say why.
        Some(crate::team::decide::Sent::Pending | crate::team::decide::Sent::Conflict { .. }) => {
            notes = std::mem::take(&mut out.notes);
        }
        _ if out.queued == 0 => {
            notes = vec![format!(
                "a pull request of diff {short} was already asked for; see `sitrep outbox list --all`"
            )];
        }
        _ => {}
    }
    out.notes = notes;
    Ok(out)
}

/// The approvers of diff `sha`, when it is approved and every approval is in the audit log.
fn approved_by(
    store: &Store,
    config: &Config,
    alert_id: &str,
    sha: &str,
    now: EpochMs,
) -> Result<Vec<String>, DecideError> {
    let policy = super::approve::approval_policy(store, config, alert_id, now);
    let rows = store.approvals(alert_id)?;
    let approvers = match super::approve::state(&rows, sha, &policy) {
        super::approve::State::Approved { approvers } => approvers,
        other => {
            return Err(DecideError::Refused(format!(
                "no pull request: the diff is not approved ({}); nothing is pushed without an approval recorded in the audit log",
                other.describe()
            )));
        }
    };
    if store.audit_key().is_none() {
        return Err(DecideError::Refused(
            "no pull request: the audit log's key is not available, so the approval cannot be checked against the audit log".into(),
        ));
    }
    let mut audited: Vec<String> = Vec::new();
    store.audit_for_each(None, |e| {
        if e.action == "approve"
            && e.subject == alert_id
            && serde_json::from_str::<serde_json::Value>(&e.detail)
                .ok()
                .and_then(|d| {
                    d.get("diff_sha256")
                        .and_then(|s| s.as_str().map(str::to_string))
                })
                .as_deref()
                == Some(sha)
        {
            audited.push(e.actor);
        }
        Ok(())
    })?;
    if let Some(missing) = approvers.iter().find(|a| !audited.contains(a)) {
        return Err(DecideError::Refused(format!(
            "no pull request: the approval by {} is not in the audit log; nothing is pushed without it",
            crate::sanitize::one_line(missing)
        )));
    }
    Ok(approvers)
}

/// The request's description (Markdown; every untrusted string escaped or fenced).
fn body(
    store: &Store,
    config: &Config,
    alert: &StoredAlert,
    proposal: &crate::remediate::Proposal,
    approvers: &[String],
    ticket: Option<&TicketRef>,
) -> String {
    use crate::sanitize::markdown_inline as md;
    let mut redactor = crate::narrate::redact::Redactor::new();
    let a = &alert.alert;
    let mut out = String::new();
    out.push_str(&format!(
        "Automated remediation proposed by sitrep for **{}** ({} {}).\n\n",
        md(&alert.id),
        a.severity.as_str(),
        md(a.vendor.display_name())
    ));
    out.push_str(&format!("- Alert: {}\n", code(&redactor.redact(&a.title))));
    out.push_str(&format!(
        "- Resource: {}\n",
        code(&redactor.redact(&super::content::resource(alert)))
    ));
    if let Ok(Some(score)) = store.score_breakdown(&alert.id, store.scoring()) {
        let why = score
            .factors
            .iter()
            .max_by_key(|f| f.points)
            .map(|f| format!(" — {}", md(&f.label)))
            .unwrap_or_default();
        out.push_str(&format!("- Priority score: {}/100{why}\n", score.total));
    }
    out.push_str(&format!(
        "- Approved by: {} (diff sha256 `{}`)\n",
        md(&approvers.join(", ")),
        proposal.sha256
    ));
    if let Some(t) = ticket {
        out.push_str(&format!(
            "- Ticket: {} {}\n",
            md(&t.key),
            md(&crate::sanitize::one_line(&t.url))
        ));
    }
    let narrator = crate::narrate::Narrator::from_config(config).ok();
    let narrative = narrator
        .and_then(|n| n.cached(store, alert))
        .unwrap_or_else(|| crate::narrate::offline::offline_narrative(alert));
    let origin = if narrative.is_offline() {
        "offline narrator"
    } else {
        "AI narrative, verify before acting"
    };
    // Fenced: escaping stops Markdown but not `@team` mentions or `#12` links, which the
    // forge resolves in prose and never inside a code block.
    out.push_str(&format!(
        "\n### Summary ({origin})\n\n{}\n",
        fenced(&redactor.redact(narrative.body.summary.trim()))
    ));
    out.push_str(&format!(
        "\n### The change\n\n{}\n\nLink back: `sitrep show {}`\n",
        md(&proposal.title),
        crate::sanitize::one_line(&alert.id).replace('`', "'")
    ));
    out
}

/// An untrusted phrase as an inline code span (no markup, mentions or links inside).
fn code(text: &str) -> String {
    format!("`{}`", crate::sanitize::one_line(text).replace('`', "'"))
}

/// Untrusted prose as a fenced block no line of it can close.
fn fenced(text: &str) -> String {
    let clean = crate::sanitize::text(text);
    let body: Vec<String> = clean
        .lines()
        .map(|l| l.replace("~~~", "~ ~ ~").replace("```", "' ' '"))
        .collect();
    format!("~~~text\n{}\n~~~", body.join("\n"))
}

/// One attempt at a pull-request row.
pub async fn deliver(config: &Config, row: &OutboxRow) -> Result<Finish, DispatchError> {
    let p: PrPayload = serde_json::from_value(row.payload.clone())
        .map_err(|e| DispatchError::permanent(format!("unreadable outbox entry: {e}")))?;
    let client = ForgeClient::new(&target_of(config, &p)?)?;
    let local = p.clone();
    let commit = tokio::task::spawn_blocking(move || {
        let out = super::patch::apply(
            &local.repo,
            None,
            &local.branch,
            &local.diff,
            &local.message,
            &local.author,
        )?;
        // Already on the remote at this commit (a retry) is fine; other content is refused.
        super::patch::push(&local.repo, &local.remote, &local.branch, &out.commit)?;
        Ok::<_, DispatchError>(out.commit)
    })
    .await
    .map_err(|e| DispatchError::permanent(format!("pull request task failed: {e}")))??;
    // A retry may follow a create whose response was lost: look before making another.
    let mut found = if row.attempts > 1 {
        client.find_by_head(&p.branch).await?
    } else {
        None
    };
    let mut created = false;
    if found.is_none() {
        let new = NewPr {
            title: p.title.clone(),
            body: p.body.clone(),
            head: p.branch.clone(),
            base: p.base.clone(),
        };
        match client.create(&new).await? {
            Created::Opened(info) => {
                created = true;
                found = Some(info);
            }
            Created::Exists => {
                found = client.find_by_head(&p.branch).await?;
                if found.is_none() {
                    return Err(DispatchError::transient(format!(
                        "{}: a request for branch {} exists but is not listed yet",
                        client.what(),
                        p.branch
                    )));
                }
            }
        }
    }
    let Some(info) = found else {
        return Err(DispatchError::transient("pull request not found"));
    };
    Ok(finish(&client, &p, row, &commit, &info, created))
}

fn finish(
    client: &ForgeClient,
    p: &PrPayload,
    row: &OutboxRow,
    commit: &str,
    info: &PrInfo,
    created: bool,
) -> Finish {
    let kind = if p.forge == Forge::GitLab.as_str() {
        "merge request"
    } else {
        "pull request"
    };
    let line = format!(
        "{kind} #{} {} on {}: {} (branch {})",
        info.number,
        if created { "opened" } else { "linked" },
        client.what(),
        info.url,
        p.branch
    );
    let follow = match (&p.ticket, &row.alert_id) {
        (Some(t), Some(alert)) => {
            let payload = super::payload::TicketNotePayload {
                system: t.system.clone(),
                key: t.key.clone(),
                id: t.id.clone(),
                url: t.url.clone(),
                text: format!(
                    "sitrep: the approved fix for {alert} is {kind} {}",
                    info.url
                ),
                dedup: format!("pr-{}", p.diff_sha256.get(..12).unwrap_or(&p.diff_sha256)),
                resolve: false,
            };
            vec![OutboxItem {
                dedup_key: format!("ticket_comment:{}:{}", t.key, row.dedup_key),
                alert_id: Some(alert.clone()),
                kind: OutboxKind::TicketComment,
                destination: t.system.clone(),
                payload: serde_json::to_value(payload).unwrap_or_default(),
            }]
        }
        _ => Vec::new(),
    };
    Finish::Done {
        result: Some(info.url.clone()),
        history: Some(line),
        ticket: None,
        pull_request: Some(Box::new(PrLink {
            forge: p.forge.clone(),
            api_url: p.api_url.clone(),
            repo: p.project.clone(),
            number: info.number,
            url: info.url.clone(),
            branch: p.branch.clone(),
            commit: commit.to_string(),
            state: info.state.as_str().into(),
            ticket: p.ticket.as_ref().map(|t| t.key.clone()),
            created,
        })),
        follow,
    }
}

/// The forge target of a row: the payload's URL and repository, the token from `[pr.<forge>]`.
fn target_of(config: &Config, p: &PrPayload) -> Result<PrTarget, DispatchError> {
    let forge = Forge::parse(&p.forge).ok_or_else(|| {
        DispatchError::permanent(format!(
            "unknown forge '{}'",
            crate::sanitize::one_line(&p.forge)
        ))
    })?;
    let api = match forge {
        Forge::GitHub => config.pr.github.as_ref(),
        Forge::GitLab => config.pr.gitlab.as_ref(),
    }
    .ok_or_else(|| {
        DispatchError::permanent(format!("[pr.{}] is no longer configured", forge.as_str()))
    })?;
    Ok(PrTarget {
        forge,
        api_url: p.api_url.clone(),
        repo: p.project.clone(),
        token: api.token.clone(),
        remote: p.remote.clone(),
        base: p.base.clone(),
        timeout: config.pr.timeout,
    })
}

/// Read the state of every open request sitrep knows and record changes on their alerts.
/// Returns (polled, changed); a forge that cannot be reached is skipped until the next poll.
pub async fn poll(
    store: &mut Store,
    config: &Config,
    now: fn() -> EpochMs,
) -> Result<(usize, usize), StoreError> {
    let mut polled = 0;
    let mut changed = 0;
    for pr in store.pull_requests(true)? {
        let Some(forge) = Forge::parse(&pr.link.forge) else {
            continue;
        };
        let Some(api) = (match forge {
            Forge::GitHub => config.pr.github.as_ref(),
            Forge::GitLab => config.pr.gitlab.as_ref(),
        }) else {
            continue;
        };
        let target = PrTarget {
            forge,
            api_url: pr.link.api_url.clone(),
            repo: pr.link.repo.clone(),
            token: api.token.clone(),
            remote: String::new(),
            base: String::new(),
            timeout: config.pr.timeout,
        };
        let info = match ForgeClient::new(&target) {
            Ok(c) => c.get(pr.link.number).await,
            Err(e) => Err(e),
        };
        match info {
            Ok(info) => {
                polled += 1;
                if store.set_pr_state(pr.id, info.state.as_str(), now())? {
                    changed += 1;
                }
            }
            Err(e) => tracing::debug!("pull request {}: {e}", pr.link.url),
        }
    }
    Ok((polled, changed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_cannot_leave_its_block_or_span() {
        assert_eq!(code("a`b @team #1"), "`a'b @team #1`");
        let f = fenced("hi @org/team\n~~~\n# closes #12\n```");
        assert!(f.starts_with("~~~text\n") && f.ends_with("\n~~~"), "{f}");
        assert_eq!(f.matches("~~~").count(), 2, "{f}");
        assert!(!f.contains("```"), "{f}");
    }
}
