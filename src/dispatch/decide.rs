//! Turning an analyst's intent into a recorded [`Decision`]: the local change plus every
//! delivery it owes (vendor write-back, ticket, notifications, patch). The console and the
//! headless commands both come through here, so both leave the same trail.

use crate::config::Config;
use crate::domain::{EpochMs, Intent};
use crate::store::{
    Decision, LocalChange, OutboxItem, OutboxKind, StatusChange, Store, StoreError, StoredAlert,
};

use super::payload::{VendorAction, VendorPayload};
use super::recorder::Recorder;
// Re-exported: these lived here before pr.rs needed them without importing this file.
pub use super::approve::approval_policy;
use super::outcome::chosen_proposal;
pub use super::outcome::{DecideError, Outcome};

/// A random suffix that makes a decision's delivery keys unique and stable once stored.
fn nonce() -> String {
    let mut b = [0u8; 6];
    if getrandom::fill(&mut b).is_err() {
        return format!("{:x}", std::process::id());
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Record `intent` on one alert in this store (SQLite mode).
pub fn decide(
    store: &mut Store,
    config: &Config,
    actor: &str,
    alert_id: &str,
    intent: &Intent,
    now: EpochMs,
) -> Result<Outcome, DecideError> {
    decide_with(
        &mut Recorder::Local,
        store,
        config,
        actor,
        alert_id,
        intent,
        now,
    )
}

/// Record `intent` on one alert through `rec` (the local store, or the team store).
pub fn decide_with(
    rec: &mut Recorder<'_>,
    store: &mut Store,
    config: &Config,
    actor: &str,
    alert_id: &str,
    intent: &Intent,
    now: EpochMs,
) -> Result<Outcome, DecideError> {
    let Some(alert) = store.get(alert_id)? else {
        return Err(StoreError::NotFound(alert_id.to_string()).into());
    };
    let mut out = Outcome {
        alert_id: alert.id.clone(),
        ..Outcome::default()
    };
    if let Intent::PullRequest { proposal } = intent {
        return super::pr::request_with(rec, store, config, actor, &alert.id, *proposal, now);
    }
    let key = format!("{}:{}", alert.id, nonce());
    let (change, mut outbox, mut detail) = match intent {
        Intent::Mark { status, note } => {
            let mut outbox = Vec::new();
            if let Some(item) = vendor_item(
                config,
                &alert,
                &key,
                VendorAction::SetStatus {
                    status: status.clone(),
                    note: note.clone(),
                },
                &mut out.notes,
            ) {
                outbox.push(item);
            }
            let text = format!(
                "{} set {} to {}{}",
                actor,
                alert.id,
                status.kind().as_str().replace('_', " "),
                note.as_deref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default()
            );
            outbox.extend(notify_items(
                config,
                &alert,
                &key,
                "alert.status_changed",
                Some(&text),
            ));
            let detail = serde_json::json!({
                "status": status,
                "note": note,
            });
            (
                LocalChange::Status(StatusChange {
                    status: status.clone(),
                    actor: actor.to_string(),
                    note: note.clone(),
                    at: now,
                }),
                outbox,
                detail,
            )
        }
        Intent::Approve { note, proposal } => {
            let (sha, title, proposal_text) = chosen_proposal(config, &alert, *proposal)?;
            let policy = approval_policy(store, config, &alert.id, now);
            let rows = store.approvals(&alert.id)?;
            let verdict = super::approve::verdict_for(&rows, &sha, &policy, actor)
                .map_err(DecideError::Refused)?;
            let mut after = rows.clone();
            after.push(crate::store::ApprovalRow {
                seq: 0,
                alert_id: alert.id.clone(),
                diff_sha256: sha.clone(),
                verdict,
                actor: actor.to_string(),
                at: now,
                note: note.clone(),
            });
            let state = super::approve::state(&after, &sha, &policy);
            let mut outbox = Vec::new();
            if let super::approve::State::Approved { approvers } = &state {
                outbox = on_approve(
                    store,
                    config,
                    &alert,
                    &key,
                    &proposal_text,
                    approvers,
                    &mut out.notes,
                );
            }
            out.notes.push(state.describe());
            (
                LocalChange::Approval {
                    verdict,
                    diff_sha256: sha.clone(),
                    note: note.clone(),
                },
                outbox,
                serde_json::json!({ "diff_sha256": sha, "proposal": title, "verdict": verdict.as_str(), "note": note, "state": state.describe() }),
            )
        }
        Intent::Reject { note, proposal } => {
            let (sha, title, _) = chosen_proposal(config, &alert, *proposal)?;
            let policy = approval_policy(store, config, &alert.id, now);
            let rows = store.approvals(&alert.id)?;
            if let super::approve::State::Approved { approvers } =
                super::approve::state(&rows, &sha, &policy)
            {
                return Err(DecideError::Refused(format!(
                    "this diff is already approved (by {}) and dispatched",
                    approvers.join(", ")
                )));
            }
            out.notes.push(format!("rejected by {actor}"));
            let outbox = notify_items(config, &alert, &key, "remediation.rejected", Some(note));
            (
                LocalChange::Approval {
                    verdict: crate::store::Verdict::Reject,
                    diff_sha256: sha.clone(),
                    note: Some(note.clone()),
                },
                outbox,
                serde_json::json!({ "diff_sha256": sha, "proposal": title, "verdict": "reject", "note": note }),
            )
        }
        Intent::Ticket { system } => {
            let team = rec.team();
            let (change, outbox) = ticket(
                store,
                team,
                config,
                &alert,
                system.as_deref(),
                &mut out.notes,
            )?;
            (change, outbox, serde_json::json!({ "system": system }))
        }
        Intent::Notify => {
            let outbox = notify_items(config, &alert, &key, "alert.notify", None);
            if outbox.is_empty() {
                return Err(DecideError::Refused(
                    "no notification channel is configured ([notify.slack], [notify.teams] or [[notify.webhook]] in the config; docs/workflows.md)".into(),
                ));
            }
            (LocalChange::NotifyRequest, outbox, serde_json::json!({}))
        }
        Intent::PullRequest { .. } => {
            return Err(DecideError::Refused(
                "internal error: pull requests are recorded by dispatch::pr".into(),
            ));
        }
        Intent::Note(text) => {
            let mut outbox = Vec::new();
            if let Some(item) = vendor_item(
                config,
                &alert,
                &key,
                VendorAction::Comment { text: text.clone() },
                &mut out.notes,
            ) {
                outbox.push(item);
            }
            (
                LocalChange::Note(text.clone()),
                outbox,
                serde_json::json!({ "note": text }),
            )
        }
    };
    // Owner routing: the team's channel, project or group, recorded in the rows and the audit.
    if let Some(route) = super::route::for_alert(config, &alert)
        && super::route::apply(&mut outbox, &route)
    {
        if let serde_json::Value::Object(m) = &mut detail {
            m.insert(
                "route".into(),
                serde_json::to_value(&route).unwrap_or_default(),
            );
        }
        out.notes.push(super::route::describe(&route));
    }
    let d = Decision {
        alert_id: alert.id.clone(),
        actor: actor.to_string(),
        at: now,
        change,
        outbox,
        audit_detail: detail,
    };
    rec.record(store, &d, &mut out)?;
    Ok(out)
}

/// The write-back row for the alert's source, when that source is configured.
fn vendor_item(
    config: &Config,
    alert: &StoredAlert,
    key: &str,
    action: VendorAction,
    notes: &mut Vec<String>,
) -> Option<OutboxItem> {
    let source = &alert.alert.source;
    if !config.sources.iter().any(|s| &s.name == source) {
        notes.push(format!(
            "recorded locally only: source '{}' is not configured for sync, so nothing is written back to {}",
            crate::sanitize::one_line(source),
            alert.alert.vendor.display_name()
        ));
        return None;
    }
    if let Some(why) = (crate::vendors::kit(alert.alert.vendor).refuse_write_back)(&alert.alert) {
        // Refused here, before anything is queued: an outbox row would only fail at the
        // vendor, every retry, with a less useful error.
        notes.push(format!(
            "recorded locally only: not written back to {}: {why}",
            alert.alert.vendor.display_name()
        ));
        return None;
    }
    let payload = VendorPayload {
        native_id: alert.alert.native_id.clone(),
        action,
    };
    Some(OutboxItem {
        dedup_key: format!("vendor:{source}:{key}"),
        alert_id: Some(alert.id.clone()),
        kind: OutboxKind::Vendor,
        destination: source.clone(),
        payload: serde_json::to_value(&payload).unwrap_or(serde_json::Value::Null),
    })
}

/// The deliveries an approval dispatches (`[approvals] on_approve`).
fn on_approve(
    store: &Store,
    config: &Config,
    alert: &StoredAlert,
    key: &str,
    proposal: &crate::remediate::Proposal,
    approvers: &[String],
    notes: &mut Vec<String>,
) -> Vec<OutboxItem> {
    use crate::config::OnApprove;
    let sha = proposal.sha256.as_str();
    let mut out = Vec::new();
    let short = &sha[..12.min(sha.len())];
    let text = format!(
        "Remediation approved by {} (diff sha256 {short}): {}",
        approvers.join(", "),
        proposal.title
    );
    let ticket = store
        .group_key(&alert.id)
        .ok()
        .map(|g| super::content::fingerprint(g.as_deref(), &alert.id))
        .and_then(|fp| store.ticket(&fp).ok().flatten());
    for action in &config.approvals.on_approve {
        match action {
            OnApprove::Patch => match &proposal.kind {
                crate::remediate::ProposalKind::Diff { repo, .. } => {
                    let payload = super::payload::PatchPayload {
                        repo: repo.clone(),
                        branch: format!("sitrep/fix-{short}"),
                        diff: proposal.text.clone(),
                        message: format!(
                            "{}\n\nAlert: {}\nApproved by: {}",
                            crate::sanitize::one_line(&proposal.title),
                            crate::sanitize::one_line(&alert.id),
                            approvers.join(", ")
                        ),
                        author: approvers.first().cloned().unwrap_or_else(|| "sitrep".into()),
                    };
                    out.push(OutboxItem {
                        dedup_key: format!("patch:{}:{sha}", alert.id),
                        alert_id: Some(alert.id.clone()),
                        kind: OutboxKind::Patch,
                        destination: repo.display().to_string(),
                        payload: serde_json::to_value(payload).unwrap_or_default(),
                    });
                }
                crate::remediate::ProposalKind::Snippet => notes.push(
                    "no patch: the approved fix is a standalone snippet, not a diff against a mapped IaC checkout".into(),
                ),
            },
            OnApprove::TicketComment | OnApprove::TicketTransition => {
                let Some(t) = &ticket else {
                    notes.push("no ticket to update: open one with `t` / `sitrep ticket`".into());
                    continue;
                };
                let resolve = *action == OnApprove::TicketTransition;
                let payload = super::payload::TicketNotePayload {
                    system: t.system.clone(),
                    key: t.key.clone(),
                    id: t.native_id.clone(),
                    url: t.url.clone(),
                    text: text.clone(),
                    dedup: format!("ap-{short}-{}", if resolve { "t" } else { "c" }),
                    resolve,
                };
                out.push(OutboxItem {
                    dedup_key: format!(
                        "ticket_{}:{}:{}:{sha}",
                        if resolve { "transition" } else { "comment" },
                        t.key,
                        alert.id
                    ),
                    alert_id: Some(alert.id.clone()),
                    kind: OutboxKind::TicketComment,
                    destination: t.system.clone(),
                    payload: serde_json::to_value(payload).unwrap_or_default(),
                });
            }
            OnApprove::Webhook => {}
        }
    }
    // The approval notification goes wherever `[notify] events` asks for it; `on_approve =
    // ["webhook"]` sends it to the webhooks even when the event list leaves it out.
    let mut notices = notify_items(config, alert, key, "remediation.approved", Some(&text));
    if notices.is_empty() && config.approvals.on_approve.contains(&OnApprove::Webhook) {
        notices = notify_items(config, alert, key, "alert.notify", Some(&text))
            .into_iter()
            .filter(|i| i.destination.starts_with("webhook:"))
            .map(|mut i| {
                if let Some(n) = i.payload.get_mut("notice") {
                    n["event"] = serde_json::Value::String("remediation.approved".into());
                }
                i
            })
            .collect();
    }
    out.extend(notices);
    out
}

/// Notification rows for `event` about the alert, to every destination that takes it.
fn notify_items(
    config: &Config,
    alert: &StoredAlert,
    key: &str,
    event: &str,
    text: Option<&String>,
) -> Vec<OutboxItem> {
    let body = text
        .cloned()
        .unwrap_or_else(|| format!("{} on {}", alert.alert.title, alert.id));
    super::payload::notify_rows_with(
        config,
        key,
        &alert.id,
        event,
        Some(&alert.alert.severity),
        |id| super::content::notice(alert, &id, event, body.clone(), None, 0),
    )
}

/// Link the known ticket of the alert's resource group, or queue its creation. In team mode
/// (`team`) the team's tickets are the ones that count: another analyst's ticket for this
/// resource is linked, not opened again.
fn ticket(
    store: &Store,
    team: Option<(&crate::store::team::TeamStore, &tokio::runtime::Handle)>,
    config: &Config,
    alert: &StoredAlert,
    system: Option<&str>,
    notes: &mut Vec<String>,
) -> Result<(LocalChange, Vec<OutboxItem>), DecideError> {
    let system = match system {
        Some(s) => super::ticket::TicketSystem::parse(s).ok_or_else(|| {
            DecideError::Refused(format!(
                "--system '{}': use jira or servicenow",
                crate::sanitize::one_line(s)
            ))
        })?,
        None => config.tickets.default_system().ok_or_else(|| {
            DecideError::Refused(
                "no ticket system is configured ([tickets.jira] or [tickets.servicenow] in the config; docs/workflows.md)".into(),
            )
        })?,
    };
    let configured = match system {
        super::ticket::TicketSystem::Jira => config.tickets.jira.is_some(),
        super::ticket::TicketSystem::ServiceNow => config.tickets.servicenow.is_some(),
    };
    if !configured {
        return Err(DecideError::Refused(format!(
            "[tickets.{}] is not configured (docs/workflows.md)",
            system.as_str()
        )));
    }
    let fp = super::content::fingerprint(store.group_key(&alert.id)?.as_deref(), &alert.id);
    if let Some(t) = existing_ticket(store, team, &fp)? {
        notes.push(format!(
            "linked existing ticket {} (same resource)",
            crate::sanitize::one_line(&t.key)
        ));
        return Ok((LocalChange::TicketLink { key: t.key }, Vec::new()));
    }
    let narrator = crate::narrate::Narrator::from_config(config).ok();
    let content = super::content::ticket_content(store, narrator.as_ref(), config, alert, &fp);
    let payload = super::payload::TicketPayload {
        system: system.as_str().to_string(),
        content,
        route: None,
    };
    notes.push(format!("ticket for {fp} queued in {}", system.as_str()));
    Ok((
        LocalChange::TicketRequest,
        vec![OutboxItem {
            // One ticket per resource group and system, however often it is asked for.
            dedup_key: format!("ticket:{}:{fp}", system.as_str()),
            alert_id: Some(alert.id.clone()),
            kind: OutboxKind::Ticket,
            destination: system.as_str().to_string(),
            payload: serde_json::to_value(payload).unwrap_or_default(),
        }],
    ))
}

/// The ticket already opened for a resource fingerprint: in team mode (`team`: the team
/// store and the runtime its connections live on) the team's, which every analyst's tickets
/// go into, else this store's. Call it from synchronous code, as deciding is.
pub fn existing_ticket(
    store: &Store,
    team: Option<(&crate::store::team::TeamStore, &tokio::runtime::Handle)>,
    fingerprint: &str,
) -> Result<Option<crate::store::TicketRow>, DecideError> {
    match team {
        Some((team, rt)) => crate::team::outbox::ticket_blocking(team, rt, fingerprint)
            .map_err(|e| DecideError::Refused(format!("the team's tickets: {e}"))),
        None => Ok(store.ticket(fingerprint)?),
    }
}
