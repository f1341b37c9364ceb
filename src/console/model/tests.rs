//! `update` on its own: no store, no terminal. Windows are fed by hand.

use super::*;
use crate::domain::{Category, Severity};

fn row(i: usize) -> QueueRow {
    QueueRow {
        local_ref: i as i64 + 1,
        id: format!("wiz:{i}"),
        source: "wiz".into(),
        vendor: "wiz".into(),
        severity: Severity::High,
        category: Category::Misconfiguration,
        title: format!("finding {i}"),
        resource: None,
        resource_id: None,
        cloud: None,
        account: None,
        region: None,
        status: "new".into(),
        assignee: None,
        claim_until: None,
        ticket: None,
        cves: Vec::new(),
        first_seen: None,
        last_seen: None,
        sort_time: 0,
        has_controls: false,
        imported_at: 10,
        changed_at: 10,
        score: 50,
        vendor_status: crate::domain::VendorState::Open,
        resurfaced: false,
        resurfaced_reason: None,
    }
}

fn state(total: usize) -> State {
    let mut s = State::new(Init {
        keymap: Keymap::default(),
        theme: Theme::dark(),
        actor: "ana".into(),
        now_ms: 1_000,
        size: (160, 45),
        filter_text: String::new(),
        sort: SortKey::Severity,
        sources: Vec::new(),
        last_looked: Some(100),
        label: "test".into(),
        narrator_label: "offline narrator".into(),
        narrator_offline: true,
        team_mode: false,
        readonly: false,
    });
    let fx = s.start();
    let Some(Effect::LoadWindow {
        req, start, len, ..
    }) = fx.first().cloned()
    else {
        panic!("first effect loads the queue: {fx:?}");
    };
    let rows = (start..(start + len).min(total)).map(row).collect();
    update(
        &mut s,
        Msg::Window {
            req,
            start,
            rows,
            total,
            exact: true,
            anchor: None,
            closed_at_vendor: 0,
        },
    );
    s
}

fn key(s: &mut State, k: &str) -> Vec<Effect> {
    update(s, Msg::Key(KeyChord::parse(k).unwrap()))
}

#[test]
fn movement_stays_in_bounds_and_loads_the_detail() {
    let mut s = state(5);
    assert_eq!(s.selected, 0);
    let fx = key(&mut s, "j");
    assert_eq!(s.selected, 1);
    assert!(matches!(&fx[..], [Effect::LoadDetail { id, .. }] if id == "wiz:1"));
    key(&mut s, "G");
    assert_eq!(s.selected, 4);
    key(&mut s, "j");
    assert_eq!(s.selected, 4);
    key(&mut s, "g");
    assert_eq!(s.selected, 0);
    key(&mut s, "k");
    assert_eq!(s.selected, 0);
}

#[test]
fn paging_far_asks_for_a_new_window() {
    let mut s = state(100_000);
    let fx = key(&mut s, "G");
    assert_eq!(s.selected, 99_999);
    assert!(
        fx.iter()
            .any(|e| matches!(e, Effect::LoadWindow { start, .. } if *start > 90_000)),
        "{fx:?}"
    );
}

#[test]
fn stale_window_results_are_dropped() {
    let mut s = state(10);
    update(
        &mut s,
        Msg::Window {
            req: 999,
            start: 0,
            rows: Vec::new(),
            total: 0,
            exact: true,
            anchor: None,
            closed_at_vendor: 0,
        },
    );
    assert_eq!(s.total, 10);
}

#[test]
fn dismiss_dialog_builds_the_decision() {
    let mut s = state(3);
    key(&mut s, "d");
    assert!(s.modal.is_some());
    key(&mut s, "j"); // accepted_risk
    key(&mut s, "tab");
    for c in "risk owner: bob".chars() {
        update(&mut s, Msg::Key(KeyChord::plain(Key::Char(c))));
    }
    key(&mut s, "tab");
    for c in "30d".chars() {
        update(&mut s, Msg::Key(KeyChord::plain(Key::Char(c))));
    }
    let fx = key(&mut s, "enter");
    assert!(s.modal.is_none());
    match &fx[..] {
        [
            Effect::Decide {
                ids,
                intent:
                    Intent::Mark {
                        status:
                            Status::Dismissed {
                                reason,
                                note,
                                until,
                            },
                        ..
                    },
                ..
            },
        ] => {
            assert_eq!(ids, &vec!["wiz:0".to_string()]);
            assert_eq!(*reason, DismissReason::AcceptedRisk);
            assert_eq!(note.as_deref(), Some("risk owner: bob"));
            assert_eq!(*until, Some(1_000 + 30 * 86_400_000));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn snooze_without_an_end_is_refused_in_the_dialog() {
    let mut s = state(3);
    key(&mut s, "z");
    let fx = key(&mut s, "enter");
    assert!(fx.is_empty());
    let m = s.modal.as_ref().expect("still open");
    assert!(m.error.as_deref().unwrap_or("").contains("needs an end"));
    key(&mut s, "esc");
    assert!(s.modal.is_none());
}

#[test]
fn marks_make_bulk_targets() {
    let mut s = state(5);
    key(&mut s, "space");
    key(&mut s, "space");
    assert_eq!(s.selected, 2);
    let fx = key(&mut s, "a");
    match &fx[..] {
        [
            Effect::Decide {
                ids,
                intent: Intent::Mark { status, note },
                done,
            },
        ] => {
            assert_eq!(ids, &vec!["wiz:0".to_string(), "wiz:1".to_string()]);
            assert_eq!(*status, Status::Acknowledged);
            assert_eq!(*note, None);
            assert_eq!(done, "acknowledged 2 alerts");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_decision_is_one_effect_carrying_its_intent() {
    let mut s = state(5);
    assert_eq!(
        key(&mut s, "t"),
        vec![Effect::Decide {
            ids: vec!["wiz:0".into()],
            intent: Intent::Ticket { system: None },
            done: "ticket".into(),
        }]
    );
    assert_eq!(
        key(&mut s, "M"),
        vec![Effect::Decide {
            ids: vec!["wiz:0".into()],
            intent: Intent::Notify,
            done: "notification".into(),
        }]
    );
    // A pull request is of the selected alert's approved diff (dispatch checks the approval).
    assert_eq!(
        key(&mut s, "P"),
        vec![Effect::Decide {
            ids: vec!["wiz:0".into()],
            intent: Intent::PullRequest { proposal: None },
            done: "pull request".into(),
        }]
    );
    // Approval is of the selected alert's diff alone, through the dialog.
    key(&mut s, "A");
    assert!(s.modal.is_some());
    assert_eq!(
        key(&mut s, "ctrl-s"),
        vec![Effect::Decide {
            ids: vec!["wiz:0".into()],
            intent: Intent::Approve {
                note: None,
                proposal: None,
            },
            done: "approval recorded".into(),
        }]
    );
}

#[test]
fn filter_prompt_validates_live_and_applies_on_enter() {
    let mut s = state(5);
    key(&mut s, "/");
    for c in "sev:>=hihg".chars() {
        update(&mut s, Msg::Key(KeyChord::plain(Key::Char(c))));
    }
    let err = s
        .prompt
        .as_ref()
        .and_then(|p| p.error.clone())
        .expect("error");
    assert!(err.contains("hihg"), "{err}");
    assert!(key(&mut s, "enter").is_empty());
    for _ in 0..4 {
        key(&mut s, "backspace");
    }
    for c in "high".chars() {
        update(&mut s, Msg::Key(KeyChord::plain(Key::Char(c))));
    }
    assert!(s.prompt.as_ref().unwrap().error.is_none());
    let fx = key(&mut s, "enter");
    assert!(s.prompt.is_none());
    assert_eq!(s.filter_text, "sev:>=high");
    assert!(matches!(
        &fx[..],
        [Effect::LoadWindow {
            filter: Some(_),
            ..
        }]
    ));
}

#[test]
fn command_line_sorts_and_reports_unknown_commands() {
    let mut s = state(5);
    key(&mut s, ":");
    for c in "bogus".chars() {
        update(&mut s, Msg::Key(KeyChord::plain(Key::Char(c))));
    }
    key(&mut s, "enter");
    let e = s
        .prompt
        .as_ref()
        .and_then(|p| p.error.clone())
        .expect("error");
    assert!(e.starts_with("unknown command ':bogus'"), "{e}");
    key(&mut s, "esc");
    key(&mut s, ":");
    for c in "sort recent".chars() {
        update(&mut s, Msg::Key(KeyChord::plain(Key::Char(c))));
    }
    let fx = key(&mut s, "enter");
    assert_eq!(s.sort, SortKey::Recent);
    assert!(matches!(
        &fx[..],
        [Effect::LoadWindow {
            sort: SortKey::Recent,
            ..
        }]
    ));
    key(&mut s, ":");
    key(&mut s, "q");
    let fx = key(&mut s, "enter");
    assert!(s.quit);
    assert!(matches!(&fx[..], [Effect::SaveLastLooked(1_000)]));
}

#[test]
fn new_rows_are_marked_until_opened() {
    let mut s = state(3);
    s.last_looked = 5;
    let r = s.window.rows[0].clone();
    assert_eq!(s.freshness(&r), Freshness::New);
    key(&mut s, "enter");
    assert_eq!(s.freshness(&r), Freshness::Seen);
    assert!(s.zoom);
    key(&mut s, "esc");
    assert!(!s.zoom);
}

#[test]
fn sync_without_sources_says_how_to_add_them() {
    let mut s = state(3);
    let fx = key(&mut s, "s");
    assert!(fx.is_empty());
    assert!(
        s.flash
            .as_ref()
            .unwrap()
            .text
            .contains("no sources configured")
    );
}

#[test]
fn the_narrative_tab_asks_the_model_and_streams_into_the_pane() {
    use crate::narrate::NarrateEvent;
    let mut s = state(3);
    s.narrator_offline = false;
    s.narrator_label = "openai gpt @ host".into();
    // A detail without a cached narrative arrives; nothing is asked until the tab is open.
    let fx = key(&mut s, "j");
    let Some(Effect::LoadDetail { req, id, .. }) = fx.first().cloned() else {
        panic!("{fx:?}");
    };
    let mut st = crate::store::Store::open_in_memory().expect("store");
    let a = crate::domain::Alert::new(crate::domain::Vendor::Wiz, "1", serde_json::json!({}));
    st.import(&[a], 1).expect("import");
    let alert = st.get("wiz:1").expect("get").expect("stored");
    let _ = id;
    let detail = Detail {
        overview: String::new(),
        alert,
        evidence: Vec::new(),
        remediation: Vec::new(),
        remediation_title: String::new(),
        score: None,
        paths: Vec::new(),
        narrative: None,
    };
    let fx = update(
        &mut s,
        Msg::Detail {
            req,
            detail: Some(Box::new(detail)),
        },
    );
    assert!(fx.is_empty(), "{fx:?}");
    let fx = key(&mut s, "l");
    assert!(
        matches!(&fx[..], [Effect::Narrate { req: r, .. }] if *r == req),
        "{fx:?}"
    );
    update(
        &mut s,
        Msg::Narration {
            req,
            event: Box::new(NarrateEvent::Delta("The bucket ".into())),
        },
    );
    update(
        &mut s,
        Msg::Narration {
            req,
            event: Box::new(NarrateEvent::Delta("is public.".into())),
        },
    );
    match &s.narration {
        Narration::Streaming { text, .. } => assert_eq!(text, "The bucket is public."),
        other => panic!("{other:?}"),
    }
    // A stale request's events are dropped.
    update(
        &mut s,
        Msg::Narration {
            req: req + 100,
            event: Box::new(NarrateEvent::Delta("x".into())),
        },
    );
    match &s.narration {
        Narration::Streaming { text, .. } => assert_eq!(text, "The bucket is public."),
        other => panic!("{other:?}"),
    }
}

/// `C` and `:closed` show what the vendor closed; `C` again goes back to the whole queue; the
/// status bar count arrives with the window.
#[test]
fn show_closed_toggles_the_vendor_closed_filter() {
    let mut s = state(3);
    let fx = key(&mut s, "C");
    assert_eq!(s.filter_text, "vstate:closed");
    assert!(
        fx.iter().any(|e| matches!(
            e,
            Effect::LoadWindow {
                filter: Some(_),
                ..
            }
        )),
        "{fx:?}"
    );
    key(&mut s, "C");
    assert_eq!(s.filter_text, "");
    key(&mut s, ":");
    for c in "closed".chars() {
        update(&mut s, Msg::Key(KeyChord::plain(Key::Char(c))));
    }
    let fx = key(&mut s, "enter");
    assert_eq!(s.filter_text, "vstate:closed");
    let Some(Effect::LoadWindow { req, .. }) = fx
        .iter()
        .find(|e| matches!(e, Effect::LoadWindow { .. }))
        .cloned()
    else {
        panic!("reloads: {fx:?}");
    };
    update(
        &mut s,
        Msg::Window {
            req,
            start: 0,
            rows: Vec::new(),
            total: 0,
            exact: true,
            anchor: None,
            closed_at_vendor: 7,
        },
    );
    assert_eq!(s.closed_at_vendor, 7);
}

/// A count that stopped at a cap shows as "N+" (title and status bar read `total_text`), and
/// an exact one as the number; the next window's answer replaces it.
#[test]
fn a_capped_count_shows_as_at_least() {
    let mut s = state(10_300);
    assert_eq!(s.total_text(), "10300");
    let fx = key(&mut s, "G");
    let Some(Effect::LoadWindow { req, start, .. }) = fx
        .iter()
        .find(|e| matches!(e, Effect::LoadWindow { .. }))
        .cloned()
    else {
        panic!("G loads the end: {fx:?}");
    };
    update(
        &mut s,
        Msg::Window {
            req,
            start,
            rows: (start..10_300).map(row).collect(),
            total: 10_000,
            exact: false,
            anchor: None,
            closed_at_vendor: 0,
        },
    );
    assert!(!s.total_exact);
    assert_eq!(s.total_text(), "10,000+");
    assert!(s.selected < 10_000);
}

#[test]
fn claim_keys_need_a_team_store_and_a_writable_console() {
    let mut s = state(5);
    assert!(key(&mut s, "c").is_empty());
    assert!(
        s.flash
            .as_ref()
            .is_some_and(|f| f.text.contains("team store")),
        "{:?}",
        s.flash
    );
    let mut s = state(5);
    s.team_mode = true;
    assert_eq!(
        key(&mut s, "c"),
        vec![Effect::Claim {
            id: "wiz:0".into(),
            release: false
        }]
    );
    assert_eq!(key(&mut s, "n"), vec![Effect::NextUnclaimed]);
    // `c` on one's own live claim gives it back; a lapsed one is claimed again.
    s.window.rows[0].assignee = Some("ana".into());
    s.window.rows[0].claim_until = Some(s.now_ms + 60_000);
    assert_eq!(
        key(&mut s, "c"),
        vec![Effect::Claim {
            id: "wiz:0".into(),
            release: true
        }]
    );
    s.window.rows[0].claim_until = Some(s.now_ms - 1);
    assert!(matches!(
        key(&mut s, "c").as_slice(),
        [Effect::Claim { release: false, .. }]
    ));
    s.readonly = true;
    for k in ["c", "n", "a", "d", "i", "t"] {
        assert!(key(&mut s, k).is_empty(), "{k} is refused");
        assert!(s.modal.is_none(), "{k} opens no dialog");
        assert!(
            s.flash
                .as_ref()
                .is_some_and(|f| f.text.contains("read-only")),
            "{k}: {:?}",
            s.flash
        );
    }
}

#[test]
fn the_handed_out_alert_is_selected_and_the_team_line_flashes_on_change() {
    let mut s = state(5);
    s.team_mode = true;
    let fx = update(
        &mut s,
        Msg::Claimed {
            text: "yours: wiz:3".into(),
            select: Some("wiz:3".into()),
        },
    );
    assert!(
        matches!(fx.as_slice(), [Effect::LoadWindow { anchor: Some(a), .. }] if a == "wiz:3"),
        "{fx:?}"
    );
    let down = TeamLine {
        label: "ana@db:5432/soc".into(),
        live: false,
        error: Some("connection refused".into()),
    };
    update(&mut s, Msg::Team(down.clone()));
    assert!(
        s.flash
            .as_ref()
            .is_some_and(|f| f.error && f.text.contains("unreachable"))
    );
    s.flash = None;
    update(&mut s, Msg::Team(down));
    assert!(s.flash.is_none(), "no second flash while it stays down");
    update(
        &mut s,
        Msg::Team(TeamLine {
            label: "ana@db:5432/soc".into(),
            live: true,
            error: None,
        }),
    );
    assert!(
        s.flash
            .as_ref()
            .is_some_and(|f| !f.error && f.text.contains("back"))
    );
}

#[test]
fn claims_wait_while_the_team_store_is_unreachable() {
    let mut s = state(5);
    s.team_mode = true;
    s.team = Some(TeamLine {
        label: "ana@db:5432/soc".into(),
        live: false,
        error: Some("connection refused".into()),
    });
    for k in ["c", "n"] {
        assert!(key(&mut s, k).is_empty(), "{k} sends nothing to the worker");
        assert!(
            s.flash
                .as_ref()
                .is_some_and(|f| f.text.contains("unreachable"))
        );
    }
}
