//! The team's shared outbox on the real PostgreSQL (tests/common/pg.rs) with the Jira and
//! chat simulators: two workers, each with its own runtime, pool and dispatcher, never open
//! a second ticket for one resource nor send a notification twice; a killed worker's lease
//! is taken again; `sitrep outbox` acts on the team outbox in team mode.

mod common;
#[path = "common/pg.rs"]
mod pg;

use std::sync::{Arc, Barrier};
use std::time::Duration;

use sitrep::audit::AuditKey;
use sitrep::config::{Config, CredentialRef, JiraConfig, JiraFlavor, Secret, TicketsConfig};
use sitrep::dispatch::payload::TicketPayload;
use sitrep::dispatch::queue::OutboxQueue;
use sitrep::dispatch::siem;
use sitrep::dispatch::ticket::{Section, SectionBody, TicketContent, TicketSystem};
use sitrep::dispatch::worker::{self, Dispatcher, PassStats};
use sitrep::domain::{EpochMs, Severity};
use sitrep::sim::server::chat::{self, ChatSim, ChatSimHandle, ChatSimOptions};
use sitrep::sim::server::hec::{self, HecSimOptions};
use sitrep::sim::server::jira::{self, JiraSimHandle, JiraSimOptions};
use sitrep::store::team::outbox::{LEASE_MS, enqueue};
use sitrep::store::team::{TeamStore, TeamTarget};
use sitrep::store::{Decision, Finish, LocalChange, OutboxItem, OutboxKind, PublishRow};
use sitrep::team::TeamOutbox;

/// The simulators' runtime, a migrated team store and a config pointing at the simulators.
struct Rig {
    rt: tokio::runtime::Runtime,
    db: pg::TestDb,
    target: TeamTarget,
    team: TeamStore,
    jira: JiraSimHandle,
    chat: ChatSimHandle,
    config: Config,
}

impl Rig {
    fn new() -> Option<Rig> {
        let db = pg::TestDb::create()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let target = TeamTarget::parse(&db.url, None, None, false).expect("target");
        let team = rt.block_on(async {
            let t = TeamStore::connect_unchecked(&target)
                .await
                .expect("connect");
            t.migrate().await.expect("migrate");
            t
        });
        let jira = rt
            .block_on(jira::start(JiraSimOptions {
                // The search index lags behind a create: a second worker that attempted the
                // same row at the same moment would not find the first one's ticket.
                index_lag: Duration::from_millis(50),
                ..JiraSimOptions::default()
            }))
            .expect("jira sim");
        let chat = rt
            .block_on(chat::start(ChatSimOptions {
                port: 0,
                seed: 7,
                latency: Duration::ZERO,
            }))
            .expect("chat sim");
        let mut config = Config::from_text_private(None, "[general]\nanalyst = \"alice\"\n", true)
            .expect("config");
        config.tickets = TicketsConfig {
            default: Some(TicketSystem::Jira),
            jira: Some(JiraConfig {
                flavor: JiraFlavor::Cloud,
                base_url: jira.base_url.clone(),
                project: "SEC".into(),
                issue_type: "Task".into(),
                email: Some(jira.email().to_string()),
                token: CredentialRef::Literal(Secret::new(jira.api_token())),
                done_transition: "Done".into(),
                timeout: Duration::from_secs(10),
            }),
            servicenow: None,
        };
        config.notify.slack = Some(CredentialRef::Literal(Secret::new(chat.slack_url.clone())));
        Some(Rig {
            rt,
            db,
            target,
            team,
            jira,
            chat,
            config,
        })
    }

    /// Alerts in the team store (history lines need their alert).
    fn publish(&self, ids: &[String]) {
        let rows: Vec<PublishRow> = ids
            .iter()
            .map(|id| PublishRow {
                id: id.clone(),
                source: "tenant".into(),
                vendor: "prisma_cspm".into(),
                raw: "{}".into(),
                content_hash: format!("h-{id}"),
                score: 50.0,
                severity_rank: 2,
                imported_at: 0,
                changed_at: 0,
                queue: Default::default(),
            })
            .collect();
        self.rt.block_on(self.team.publish(&rows)).expect("publish");
    }

    fn enqueue(&self, items: &[OutboxItem]) {
        self.rt.block_on(enqueue_on(&self.team, items));
    }

    /// One SQL answer as text.
    fn one(&self, sql: &str) -> String {
        self.db
            .query(sql)
            .into_iter()
            .next()
            .flatten()
            .unwrap_or_default()
    }

    fn slack_requests(&self) -> u64 {
        ChatSim::count(&self.chat.state.counters.slack_requests)
    }
}

async fn enqueue_on(team: &TeamStore, items: &[OutboxItem]) {
    let mut client = team.client().await.expect("client");
    let tx = client.transaction().await.expect("tx");
    enqueue(&tx, worker::wall_clock_ms(), "alice", items)
        .await
        .expect("enqueue");
    tx.commit().await.expect("commit");
}

fn fingerprint(n: usize) -> String {
    format!("sitrep-fp-{n:012x}")
}

/// The row `decide` queues for a ticket on resource `fp` (one dedup key per resource).
fn ticket_item(alert: &str, fp: &str) -> OutboxItem {
    let payload = TicketPayload {
        system: "jira".into(),
        content: TicketContent {
            fingerprint: fp.to_string(),
            summary: format!("Public bucket ({fp})"),
            severity: Severity::High,
            sections: vec![Section {
                heading: "Resource".into(),
                body: SectionBody::Text("arn:aws:s3:::prod-logs".into()),
            }],
        },
        route: None,
    };
    OutboxItem {
        dedup_key: format!("ticket:jira:{fp}"),
        alert_id: Some(alert.to_string()),
        kind: OutboxKind::Ticket,
        destination: "jira".into(),
        payload: serde_json::to_value(payload).expect("payload"),
    }
}

fn notify_items(config: &Config, alert: &str, n: usize) -> Vec<OutboxItem> {
    worker::notify_rows(
        config,
        &format!("{alert}:n{n}"),
        alert,
        "alert.notify",
        "look at this",
        Some(Severity::High),
        None,
    )
}

/// Two workers, each on its own OS thread with its own runtime, team store pool and
/// dispatcher, run `rounds` rounds in step (a barrier before each): queue what `round(n)`
/// asks for, then one delivery pass. A ticket is queued only when the team has none for its
/// resource yet (decide's rule: link the known ticket instead). Returns each worker's passes
/// added up.
fn two_workers(rig: &Rig, rounds: usize, round: fn(usize) -> Vec<OutboxItem>) -> [PassStats; 2] {
    let barrier = Arc::new(Barrier::new(2));
    let handles: Vec<_> = (0..2)
        .map(|w| {
            let barrier = barrier.clone();
            let target = rig.target.clone();
            let config = rig.config.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                let team = rt.block_on(TeamStore::connect(&target)).expect("connect");
                let mut queue = TeamOutbox::new(team.clone(), &format!("analyst{w}"));
                let mut dispatcher = Dispatcher::new(&config);
                let mut total = PassStats::default();
                for n in 0..rounds {
                    barrier.wait();
                    let asked = round(n);
                    rt.block_on(async {
                        let mut items = Vec::new();
                        for item in asked {
                            let fp = item.payload["content"]["fingerprint"].as_str();
                            if let Some(fp) = fp
                                && team.ticket(fp).await.expect("ticket").is_some()
                            {
                                continue;
                            }
                            items.push(item);
                        }
                        if !items.is_empty() {
                            enqueue_on(&team, &items).await;
                        }
                        let s = worker::deliver_due(
                            &mut queue,
                            &mut dispatcher,
                            worker::wall_clock_ms,
                            1_000,
                        )
                        .await
                        .expect("deliver");
                        total.delivered += s.delivered;
                        total.retrying += s.retrying;
                        total.failed += s.failed;
                        total.unsupported += s.unsupported;
                    });
                }
                total
            })
        })
        .collect();
    let mut out = [PassStats::default(); 2];
    for (i, h) in handles.into_iter().enumerate() {
        out[i] = h.join().expect("worker thread");
    }
    out
}

/// Every round the same resource.
fn ticket_round_same(_n: usize) -> Vec<OutboxItem> {
    vec![ticket_item("tenant:a1", &fingerprint(1))]
}

/// Each round a new resource, asked for by both analysts at the same moment.
fn ticket_round_fresh(n: usize) -> Vec<OutboxItem> {
    vec![ticket_item(&format!("tenant:r{n}"), &fingerprint(1000 + n))]
}

fn assert_no_errors(stats: &[PassStats; 2]) {
    for s in stats {
        assert_eq!(s.failed, 0, "{stats:?}");
        assert_eq!(s.unsupported, 0, "{stats:?}");
    }
}

#[test]
fn two_workers_ticketing_one_resource_200_times_open_one_ticket() {
    let Some(rig) = Rig::new() else { return };
    rig.publish(&["tenant:a1".to_string()]);
    let stats = two_workers(&rig, 200, ticket_round_same);
    assert_no_errors(&stats);
    let fp = fingerprint(1);
    let issues = rig.jira.state.issues_with_label(&fp);
    assert_eq!(issues.len(), 1, "tickets in Jira for {fp}: {issues:?}");
    assert_eq!(rig.one("SELECT count(*) FROM tickets"), "1");
    assert_eq!(
        rig.one(&format!(
            "SELECT key FROM tickets WHERE fingerprint = '{fp}'"
        )),
        issues[0].key
    );
    // The alert carries it, its version moved, and its history says so once.
    assert_eq!(
        rig.one("SELECT ticket FROM alerts WHERE id = 'tenant:a1'"),
        issues[0].key
    );
    assert_eq!(
        rig.one("SELECT version FROM alerts WHERE id = 'tenant:a1'"),
        "1"
    );
    assert_eq!(
        rig.one(
            "SELECT count(*) FROM history WHERE alert_id = 'tenant:a1' \
             AND reason LIKE 'ticket % created in Jira'"
        ),
        "1"
    );
    // One ticket row was queued and delivered, and its "ticket created" notice went out once.
    assert_eq!(
        rig.one("SELECT count(*) FROM outbox WHERE kind = 'ticket' AND state = 'done'"),
        "1"
    );
    assert_eq!(
        rig.one("SELECT attempts FROM outbox WHERE kind = 'ticket'"),
        "1"
    );
    assert_eq!(rig.slack_requests(), 1);
    assert_eq!(
        stats[0].delivered + stats[1].delivered,
        2,
        "the ticket and its notice, once each: {stats:?}"
    );
}

#[test]
fn two_workers_racing_on_200_new_resources_open_one_ticket_each() {
    let Some(rig) = Rig::new() else { return };
    let ids: Vec<String> = (0..200).map(|n| format!("tenant:r{n}")).collect();
    rig.publish(&ids);
    let stats = two_workers(&rig, 200, ticket_round_fresh);
    assert_no_errors(&stats);
    let issues = rig.jira.issues();
    assert_eq!(issues.len(), 200, "one ticket per resource");
    for n in 0..200 {
        let fp = fingerprint(1000 + n);
        assert_eq!(
            rig.jira.state.issues_with_label(&fp).len(),
            1,
            "tickets for {fp}"
        );
    }
    assert_eq!(rig.one("SELECT count(*) FROM tickets"), "200");
    assert_eq!(
        rig.one("SELECT count(*) FROM alerts WHERE ticket IS NOT NULL"),
        "200"
    );
    // Every row was attempted once: the other worker skipped what this one had leased.
    assert_eq!(
        rig.one(
            "SELECT count(*) FROM outbox WHERE kind = 'ticket' AND attempts = 1 AND state = 'done'"
        ),
        "200"
    );
    assert_eq!(rig.slack_requests(), 200, "one notice per ticket");
}

#[test]
fn notifications_are_sent_once_when_two_workers_run_passes_together() {
    let Some(rig) = Rig::new() else { return };
    // Slow enough that the two workers' passes overlap on every row.
    rig.chat.state.set_latency(Duration::from_millis(5));
    let alerts: Vec<String> = (0..30).map(|n| format!("tenant:n{n}")).collect();
    rig.publish(&alerts);
    let mut items = Vec::new();
    for a in &alerts {
        items.extend(notify_items(&rig.config, a, 0));
        items.extend(notify_items(&rig.config, a, 1));
    }
    assert_eq!(items.len(), 60);
    rig.enqueue(&items);
    // Each worker passes until nothing is due for it; a few rounds cover rows held back by
    // an earlier row of the same alert that the other worker was sending.
    let stats = two_workers(&rig, 4, |_| Vec::new());
    assert_no_errors(&stats);
    assert_eq!(stats[0].delivered + stats[1].delivered, 60, "{stats:?}");
    assert_eq!(rig.slack_requests(), 60, "each notice sent once");
    assert_eq!(rig.rt.block_on(rig.chat.state.slack_messages()).len(), 60);
    assert_eq!(
        rig.one("SELECT count(*) FROM outbox WHERE state = 'done' AND attempts = 1"),
        "60"
    );
}

fn an_hour_later() -> EpochMs {
    worker::wall_clock_ms() + LEASE_MS + 3_600_000
}

#[test]
fn a_row_of_a_kind_this_build_does_not_know_waits_for_one_that_does() {
    let Some(rig) = Rig::new() else { return };
    rig.publish(&["tenant:u1".to_string()]);
    rig.enqueue(&notify_items(&rig.config, "tenant:u1", 0));
    // A newer sitrep on the team queued a kind this build has never heard of.
    rig.db.query(
        "UPDATE outbox SET kind = 'carrier_pigeon', destination = 'pigeon', \
         dedup_key = dedup_key || '-new'",
    );
    rig.enqueue(&notify_items(&rig.config, "tenant:u1", 1));
    let now = worker::wall_clock_ms();
    let mut w = TeamOutbox::new(rig.team.clone(), "alice");
    let due = rig.rt.block_on(w.due(now, 10)).expect("due");
    assert_eq!(due.len(), 1, "{due:?}");
    assert_eq!(due[0].kind, OutboxKind::Notify);
    let unknown: i64 = rig
        .one("SELECT id FROM outbox WHERE kind = 'carrier_pigeon'")
        .parse()
        .expect("id");
    // Nor can it be leased by id (read as the Notify it is not, it would be sent to Slack).
    let mut as_notify = due[0].clone();
    as_notify.id = unknown;
    assert!(!rig.rt.block_on(w.begin(&as_notify, now)).expect("lease"));
    let mut d = Dispatcher::new(&rig.config);
    let s = rig
        .rt
        .block_on(worker::deliver_due(&mut w, &mut d, an_hour_later, 10))
        .expect("pass");
    assert_eq!(s.delivered, 1, "{s:?}");
    assert_eq!(rig.slack_requests(), 1);
    assert_eq!(
        rig.one("SELECT state || ' ' || attempts FROM outbox WHERE kind = 'carrier_pigeon'"),
        "pending 0"
    );
}

#[test]
fn the_teams_audit_entries_reach_the_siem_from_a_worker_that_has_it() {
    let Some(rig) = Rig::new() else { return };
    let hec = rig
        .rt
        .block_on(hec::start(HecSimOptions {
            port: 0,
            seed: 5,
            ack: false,
            ack_after: 0,
        }))
        .expect("hec sim");
    let with_siem = Config::from_text_private(
        None,
        &format!(
            "[general]\nanalyst = \"alice\"\n[[siem]]\nname = \"splunk\"\ntype = \"splunk_hec\"\n\
             url = \"{}\"\ntoken = \"{}\"\ntimeout = \"5s\"\n",
            hec.base_url, hec.state.token
        ),
        true,
    )
    .expect("config");
    rig.publish(&["tenant:s1".to_string()]);
    let now = worker::wall_clock_ms();
    let names = siem::names(&with_siem.siem);
    for _ in 0..2 {
        // Every connecting sitrep adds its destinations; twice is once.
        rig.rt
            .block_on(rig.team.add_siem_destinations(&names, "alice", now))
            .expect("add");
    }
    let key = AuditKey::from_bytes(b"team outbox siem test key 0123456789abc");
    for (i, text) in ["first look", "second look"].iter().enumerate() {
        let d = Decision {
            alert_id: "tenant:s1".into(),
            actor: "alice".into(),
            at: now,
            change: LocalChange::Note(text.to_string()),
            outbox: Vec::new(),
            audit_detail: serde_json::json!({ "note": text }),
        };
        rig.rt
            .block_on(
                rig.team
                    .record_decision(&format!("s-{i}"), None, &d, Some(&key)),
            )
            .expect("record");
    }
    // Each entry is owed to the SIEM, in its decision's transaction.
    assert_eq!(
        rig.one("SELECT count(*) FROM outbox WHERE kind = 'siem'"),
        "2"
    );
    // A worker whose config has no such destination leaves the rows to one that has.
    let mut plain = TeamOutbox::new(rig.team.clone(), "bob");
    let mut d = Dispatcher::new(&rig.config);
    let s = rig
        .rt
        .block_on(worker::deliver_due(&mut plain, &mut d, an_hour_later, 10))
        .expect("pass");
    assert_eq!(s.attempted(), 0, "{s:?}");
    let mut w = TeamOutbox::new(rig.team.clone(), "alice")
        .delivering_siem(siem::destinations(&with_siem.siem));
    let mut d = Dispatcher::new(&with_siem);
    let s = rig
        .rt
        .block_on(worker::deliver_due(&mut w, &mut d, an_hour_later, 10))
        .expect("pass");
    assert_eq!(s.delivered, 2, "{s:?}");
    // Each entry once, in order, with the MAC the team's chain holds.
    let events = rig.rt.block_on(hec.state.events());
    let got: Vec<(i64, String)> = events
        .iter()
        .map(|e| {
            let ev = &e.body["event"];
            (
                ev["seq"].as_i64().expect("seq"),
                ev["mac"].as_str().expect("mac").to_string(),
            )
        })
        .collect();
    let want: Vec<(i64, String)> = (1..=2)
        .map(|seq| {
            (
                seq,
                rig.one(&format!("SELECT mac FROM audit_log WHERE seq = {seq}")),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(events[0].body["event"]["detail"]["note"], "first look");
}

#[test]
fn asking_again_for_a_pending_row_does_not_hide_it_from_a_worker() {
    let Some(rig) = Rig::new() else { return };
    rig.publish(&["tenant:p1".to_string()]);
    let items = notify_items(&rig.config, "tenant:p1", 0);
    rig.enqueue(&items);
    let now = worker::wall_clock_ms();
    let mut w = TeamOutbox::new(rig.team.clone(), "bob");
    let row = rig.rt.block_on(w.due(now, 10)).expect("due").remove(0);
    rig.rt.block_on(async {
        // Another analyst asks for the same delivery; their transaction is still open.
        let mut client = rig.team.client().await.expect("client");
        let tx = client.transaction().await.expect("tx");
        let q = enqueue(&tx, now, "alice", &items).await.expect("enqueue");
        assert_eq!((q.queued, q.already_queued), (0, 1));
        // The worker may still take the row: nothing of the asking locked it.
        assert!(
            w.begin(&row, now).await.expect("lease"),
            "the row was skipped"
        );
        tx.commit().await.expect("commit");
    });
}

#[test]
fn a_killed_workers_lease_is_taken_again_and_its_late_outcome_ignored() {
    let Some(rig) = Rig::new() else { return };
    rig.publish(&["tenant:k1".to_string()]);
    rig.enqueue(&notify_items(&rig.config, "tenant:k1", 0));
    let now = worker::wall_clock_ms();
    let mut killed = TeamOutbox::new(rig.team.clone(), "alice");
    let mut other = TeamOutbox::new(rig.team.clone(), "bob");
    assert_ne!(killed.owner(), other.owner());
    let rows = rig.rt.block_on(killed.due(now, 10)).expect("due");
    assert_eq!(rows.len(), 1);
    let row = rows[0].clone();
    // The first worker takes the row and dies before it finishes.
    assert!(rig.rt.block_on(killed.begin(&row, now)).expect("lease"));
    assert_eq!(
        rig.one(&format!(
            "SELECT lease_owner FROM outbox WHERE id = {}",
            row.id
        )),
        killed.owner()
    );
    drop(killed);
    // While the lease holds, nobody else attempts it.
    assert!(rig.rt.block_on(other.due(now, 10)).expect("due").is_empty());
    assert!(!rig.rt.block_on(other.begin(&row, now)).expect("lease"));
    let mut d = Dispatcher::new(&rig.config);
    let s = rig
        .rt
        .block_on(worker::deliver_due(
            &mut other,
            &mut d,
            worker::wall_clock_ms,
            10,
        ))
        .expect("pass");
    assert_eq!(s.attempted(), 0);
    assert_eq!(rig.slack_requests(), 0);
    // Once it has run out, the next pass takes the row and delivers it.
    let s = rig
        .rt
        .block_on(worker::deliver_due(&mut other, &mut d, an_hour_later, 10))
        .expect("pass");
    assert_eq!(s.delivered, 1, "{s:?}");
    assert_eq!(rig.slack_requests(), 1);
    assert_eq!(
        rig.one(&format!(
            "SELECT state || ' ' || attempts || ' ' || coalesce(lease_owner, '-') FROM outbox WHERE id = {}",
            row.id
        )),
        "done 2 -"
    );
    // The dead worker's outcome, arriving late (a paused process), changes nothing.
    let mut late = TeamOutbox::new(rig.team.clone(), "alice");
    rig.rt
        .block_on(late.finish(
            &row,
            &Finish::Failed {
                error: "late".into(),
            },
            now,
        ))
        .expect("finish");
    assert_eq!(
        rig.one(&format!(
            "SELECT state || ' ' || coalesce(last_error, '-') FROM outbox WHERE id = {}",
            row.id
        )),
        "done -"
    );
}

#[test]
fn ticket_statuses_polled_by_two_workers_are_recorded_once() {
    let Some(rig) = Rig::new() else { return };
    rig.publish(&["tenant:p1".to_string()]);
    let fp = fingerprint(7);
    rig.enqueue(&[ticket_item("tenant:p1", &fp)]);
    let mut a = TeamOutbox::new(rig.team.clone(), "alice");
    let mut b = TeamOutbox::new(rig.team.clone(), "bob");
    let mut da = Dispatcher::new(&rig.config);
    let mut db = Dispatcher::new(&rig.config);
    let s = rig
        .rt
        .block_on(worker::deliver_due(
            &mut a,
            &mut da,
            worker::wall_clock_ms,
            10,
        ))
        .expect("pass");
    assert_eq!(s.delivered, 2, "{s:?}");
    let key = rig.one("SELECT key FROM tickets");
    assert!(rig.jira.state.set_status(&key, "Done"));
    // Slow status answers: both polls usually list the ticket as open before either records.
    rig.jira.state.faults.set_latency(Duration::from_millis(20));
    let (ra, rb) = rig.rt.block_on(async {
        tokio::join!(
            worker::poll_tickets(&mut a, &mut da),
            worker::poll_tickets(&mut b, &mut db)
        )
    });
    let (ra, rb) = (ra.expect("poll"), rb.expect("poll"));
    // However the two polls interleave, the change is recorded once.
    assert!(ra.0 + rb.0 >= 1, "{ra:?} {rb:?}");
    assert_eq!(ra.1 + rb.1, 1, "one records the change: {ra:?} {rb:?}");
    assert_eq!(
        rig.one(
            "SELECT count(*) FROM history WHERE kind = 'ticket' AND reason LIKE '% is now Done'"
        ),
        "1"
    );
    assert_eq!(rig.one("SELECT done FROM tickets"), "t");
    // A done ticket is no longer polled.
    let (polled, _) = rig
        .rt
        .block_on(worker::poll_tickets(&mut a, &mut da))
        .expect("poll");
    assert_eq!(polled, 0);
    // The decision code finds the team's ticket for the resource.
    let store = sitrep::store::Store::open_in_memory().expect("store");
    let found =
        sitrep::dispatch::decide::existing_ticket(&store, Some((&rig.team, rig.rt.handle())), &fp)
            .expect("lookup")
            .expect("the team's ticket");
    assert_eq!(found.key, key);
    assert!(
        sitrep::dispatch::decide::existing_ticket(&store, None, &fp)
            .expect("lookup")
            .is_none(),
        "the local store has none"
    );
}

#[test]
fn the_outbox_commands_act_on_the_team_outbox_in_team_mode() {
    let Some(rig) = Rig::new() else { return };
    rig.publish(&["tenant:c1".to_string()]);
    rig.enqueue(&notify_items(&rig.config, "tenant:c1", 0));
    let id = rig.one("SELECT id FROM outbox");
    let sb = common::Sandbox::new();
    let run = |args: &[&str]| {
        let mut c = sb.cmd();
        c.env("SITREP_DATABASE_URL", &rig.db.url);
        c.args(args).output().expect("run sitrep")
    };
    let out = run(&["outbox", "list"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("outbox: 1 pending (0 retrying), 0 failed"),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("#{id}")), "{stdout}");
    let out = run(&["outbox", "drop", &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 entry dropped"));
    assert_eq!(rig.one("SELECT state FROM outbox"), "dropped");
    // Dropping it again is an input error naming its state.
    let out = run(&["outbox", "drop", &id]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("is dropped"));
    // Retry puts it back and delivers: this analyst's config has no Slack, so it fails
    // there, visibly, in the team's outbox.
    let out = run(&["outbox", "retry", &id]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 entry back in the queue"), "{stdout}");
    assert_eq!(
        rig.one("SELECT state || ': ' || last_error FROM outbox"),
        "failed: [notify.slack] is no longer configured"
    );
    let out = run(&["outbox", "list", "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let row: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json line");
    assert_eq!(row["state"], "failed");
    assert_eq!(row["attempts"], 1);
}
