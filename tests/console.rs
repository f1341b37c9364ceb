//! The console through its production path (keys → keymap → update → effects → store worker
//! → update → draw) on a `TestBackend`, over a real SQLite file filled from the seeded
//! simulator world. Screens are insta snapshots.

mod common;

use std::path::{Path, PathBuf};

use sitrep::config::Config;
use sitrep::config::keymap::Keymap;
use sitrep::config::theme::Theme;
use sitrep::console::model::{Init, Msg, State, Tab};
use sitrep::console::runtime::harness::Harness;
use sitrep::console::runtime::worker::Worker;
use sitrep::domain::{Status, Vendor};
use sitrep::rng::Rng;
use sitrep::sim::world::World;
use sitrep::sources::sync::SourceStatus;
use sitrep::store::{ListRequest, Store};
use sitrep::vendors::emit;

use common::NOW_MS;

fn fixed_clock() -> i64 {
    NOW_MS
}

fn import_world(db: &Path, world: &World, at: i64) {
    let mut s = Store::open(db).expect("open");
    for v in Vendor::ALL {
        let body = emit::vendor_body(v, world);
        let alerts = sitrep::vendors::map_payload(v, v.as_str(), &body).expect("map");
        s.import(&alerts, at).expect("import");
    }
}

/// A database with `per_vendor` alerts from each of the six vendors.
fn fixture(per_vendor: usize) -> (tempfile::TempDir, PathBuf, World) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("console.db");
    let world = World::generate(7, per_vendor, NOW_MS - 3_600_000);
    import_world(&db, &world, NOW_MS);
    (dir, db, world)
}

fn harness_with(db: &Path, w: u16, h: u16, keymap: Keymap) -> Harness {
    let state = State::new(Init {
        keymap,
        theme: Theme::dark(),
        actor: "tester".into(),
        now_ms: NOW_MS,
        size: (w, h),
        filter_text: String::new(),
        sort: sitrep::store::SortKey::Severity,
        sources: Vendor::ALL.iter().map(|v| v.as_str().to_string()).collect(),
        last_looked: Some(NOW_MS),
        label: "test".into(),
        narrator_label: "offline narrator".into(),
        narrator_offline: true,
        team_mode: false,
        readonly: false,
    });
    let worker = Worker::new(Store::open(db).expect("open"), "tester".into(), fixed_clock);
    let mut h = Harness::new(state, worker, w, h);
    for (i, _) in Vendor::ALL.iter().enumerate() {
        let status = if i == 4 {
            SourceStatus::Failed {
                reason: "orca: 401 Unauthorized after a fresh login".into(),
                last_success: Some(NOW_MS - 7_200_000),
                last_full: Some(NOW_MS - 7_200_000),
                next_run_in: std::time::Duration::from_secs(60),
            }
        } else {
            SourceStatus::Idle {
                last_success: Some(NOW_MS - 120_000),
                last_full: Some(NOW_MS - 3_600_000),
                next_run_in: std::time::Duration::from_secs(60),
            }
        };
        h.send(Msg::Source { index: i, status });
    }
    h
}

fn harness(db: &Path, w: u16, h: u16) -> Harness {
    harness_with(db, w, h, Keymap::default())
}

#[test]
fn main_screen() {
    let (_d, db, _) = fixture(8);
    let mut h = harness(&db, 160, 45);
    insta::assert_snapshot!("main_160x45", h.screen());
}

/// `sitrep demo`'s first screen, as it opens at 160×40: the demo's world (seed 7, 300
/// findings per vendor, synced from the six simulators — here imported from the same
/// emitters), its default order (score) and a fixed clock. The queue leads with what still
/// needs someone: no row on it is closed at the vendor (issue 23); `C` shows those.
#[test]
fn demo_first_screen_leads_with_open_alerts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("demo.db");
    let world = World::generate(7, 300, NOW_MS);
    import_world(&db, &world, NOW_MS);
    let state = State::new(Init {
        keymap: Keymap::default(),
        theme: Theme::dark(),
        actor: "tester".into(),
        now_ms: NOW_MS,
        size: (160, 40),
        filter_text: String::new(),
        sort: Config::defaults().sort,
        sources: Vendor::ALL.iter().map(|v| v.as_str().to_string()).collect(),
        last_looked: Some(NOW_MS),
        label: "demo".into(),
        narrator_label: "offline narrator".into(),
        narrator_offline: true,
        team_mode: false,
        readonly: false,
    });
    let worker = Worker::new(
        Store::open(&db).expect("open"),
        "tester".into(),
        fixed_clock,
    );
    let mut h = Harness::new(state, worker, 160, 40);
    for (i, _) in Vendor::ALL.iter().enumerate() {
        h.send(Msg::Source {
            index: i,
            status: SourceStatus::Idle {
                last_success: Some(NOW_MS),
                last_full: Some(NOW_MS),
                next_run_in: std::time::Duration::from_secs(20),
            },
        });
    }
    let screen = h.screen();
    let visible = h.state.viewport();
    assert!(h.state.total > visible, "{} rows", h.state.total);
    for i in 0..visible {
        let r = h.state.window.get(i).expect("row on the first screen");
        assert!(
            !r.vendor_status.is_closed(),
            "{} on the first screen is closed at the vendor",
            r.id
        );
    }
    insta::assert_snapshot!("demo_160x40", screen);
    // One key away: what the vendor closed, and nothing else.
    h.press("C");
    assert_eq!(h.state.filter_text, "vstate:closed");
    assert!(h.state.total > 0);
    for i in 0..h.state.viewport().min(h.state.total) {
        let r = h.state.window.get(i).expect("row");
        assert!(r.vendor_status.is_closed(), "{}", r.id);
    }
}

/// A sync lands in which the vendors closed some alerts: they leave the queue and the status
/// bar counts them, with the key that shows them.
#[test]
fn the_status_bar_counts_what_the_vendor_closed_since_you_last_looked() {
    let (_d, db, mut world) = fixture(12);
    let mut h = harness(&db, 160, 45);
    h.worker.last_looked = Some(NOW_MS);
    assert_eq!(h.state.closed_at_vendor, 0);
    let closed_ids = |w: &World| -> std::collections::HashSet<String> {
        Vendor::ALL
            .iter()
            .flat_map(|&v| {
                let body = emit::vendor_body(v, w);
                sitrep::vendors::map_payload(v, v.as_str(), &body).expect("map")
            })
            .filter(|a| a.vendor_status.is_closed())
            .map(|a| a.id())
            .collect()
    };
    let before = closed_ids(&world);
    let queue_before = h.state.total;
    let mut rng = Rng::new(5);
    for v in Vendor::ALL {
        world.close(&mut rng, v, 2, NOW_MS + 60_000);
    }
    let closing = closed_ids(&world).difference(&before).count();
    assert!(closing >= 8, "{closing}");
    import_world(&db, &world, NOW_MS + 60_000);
    h.send(Msg::StoreChanged);
    assert_eq!(h.state.closed_at_vendor, closing);
    assert_eq!(h.state.total, queue_before - closing);
    let screen = h.screen();
    assert!(
        screen.contains(&format!(
            "{closing} closed at the vendor since you last looked (C)"
        )),
        "{screen}"
    );
}

#[test]
fn narrow_terminal_stacks_the_panes() {
    let (_d, db, _) = fixture(8);
    let mut h = harness(&db, 100, 40);
    insta::assert_snapshot!("narrow_100x40", h.screen());
}

#[test]
fn every_detail_tab() {
    let (_d, db, _) = fixture(8);
    let mut h = harness(&db, 160, 45);
    h.press("j j enter");
    for tab in Tab::ALL {
        assert_eq!(h.state.tab, tab);
        insta::assert_snapshot!(format!("tab_{tab:?}").to_lowercase(), h.screen());
        h.press("l");
    }
    assert_eq!(h.state.tab, Tab::Overview);
}

#[test]
fn filter_prompt_shows_the_parse_error_live() {
    let (_d, db, _) = fixture(8);
    let mut h = harness(&db, 120, 30);
    let before = h.state.total;
    h.press("/");
    h.type_text("vendor:wiz sev:>=hihg");
    insta::assert_snapshot!("filter_error", h.screen());
    h.press("enter");
    assert!(h.state.prompt.is_some(), "a bad filter is not applied");
    assert_eq!(h.state.total, before);
    for _ in 0..4 {
        h.press("backspace");
    }
    h.type_text("high");
    h.press("enter");
    assert!(h.state.prompt.is_none());
    let store = Store::open(&db).unwrap();
    let q = sitrep::triage::query::parse("vendor:wiz sev:>=high").unwrap();
    let want = store
        .count(&ListRequest {
            filter: Some(&q),
            now_ms: NOW_MS,
            ..ListRequest::default()
        })
        .unwrap();
    assert!(want > 0 && want < before, "{want} of {before}");
    assert_eq!(h.state.total, want);
    let screen = h.screen();
    for line in screen
        .lines()
        .filter(|l| l.contains("│") && l.contains(" wiz "))
    {
        assert!(line.contains("HIGH") || line.contains("CRIT"), "{line}");
    }
    h.press("ctrl-l");
    assert_eq!(h.state.total, before);
}

#[test]
fn dismiss_dialog_records_the_decision_in_the_store() {
    let (_d, db, _) = fixture(8);
    let mut h = harness(&db, 160, 45);
    h.press("j j j");
    let id = h.state.selected_row().expect("row").id.clone();
    let before = h.state.total;
    h.press("d j tab");
    h.type_text("owned by the payments team");
    insta::assert_snapshot!("dismiss_modal", h.screen());
    h.press("tab");
    h.type_text("30d");
    h.press("enter");
    assert!(h.state.modal.is_none());
    let flash = h.state.flash.clone().expect("flash");
    assert_eq!(flash.text, "dismissed 1 alert (accepted_risk)");
    // Gone from the active queue; the selection stays on the same row position.
    assert_eq!(h.state.total, before - 1);
    assert_eq!(h.state.selected, 3);
    let got = Store::open(&db).unwrap().get(&id).unwrap().expect("alert");
    match got.status {
        Status::Dismissed {
            reason,
            note,
            until,
        } => {
            assert_eq!(reason.as_str(), "accepted_risk");
            assert_eq!(note.as_deref(), Some("owned by the payments team"));
            assert_eq!(until, Some(NOW_MS + 30 * 86_400_000));
        }
        other => panic!("{other:?}"),
    }
    let last = got.history.last().expect("history");
    assert_eq!(last.actor, "tester");
    assert_eq!(last.to_status.as_deref(), Some("dismissed"));
}

#[test]
fn bulk_actions_apply_to_every_marked_row() {
    let (_d, db, _) = fixture(8);
    let mut h = harness(&db, 160, 45);
    let ids: Vec<String> = (0..3)
        .map(|i| h.state.window.get(i).unwrap().id.clone())
        .collect();
    h.press("space space space");
    assert_eq!(h.state.marked.len(), 3);
    h.press("a");
    assert!(h.state.marked.is_empty());
    let store = Store::open(&db).unwrap();
    for id in &ids {
        assert_eq!(
            store.get(id).unwrap().unwrap().status,
            Status::Acknowledged,
            "{id}"
        );
    }
    // Notes and snoozes through their dialogs.
    h.press("g i");
    h.type_text("checked with the owner");
    h.press("ctrl-s");
    let hist = store.get(&ids[0]).unwrap().unwrap().history;
    assert_eq!(
        hist.last().and_then(|e| e.note.as_deref()),
        Some("checked with the owner")
    );
    h.press("z");
    h.type_text("2w");
    h.press("enter");
    assert!(matches!(
        store.get(&ids[0]).unwrap().unwrap().status,
        Status::Snoozed { .. }
    ));
}

#[test]
fn live_updates_keep_the_selection_and_mark_what_is_new() {
    // Enough alerts that the queue outgrows the screen (so it can keep its place).
    let (_d, db, mut world) = fixture(12);
    let mut h = harness(&db, 160, 45);
    h.press("j j j j j");
    // The vendors' next state (below), to select an alert they will not close: one they
    // close leaves the queue (issue 23).
    let closing: std::collections::HashSet<String> = {
        let mut next = world.clone();
        next.evolve(&mut Rng::new(99), 10, 3, NOW_MS + 60_000);
        Vendor::ALL
            .iter()
            .flat_map(|&v| {
                let body = emit::vendor_body(v, &next);
                sitrep::vendors::map_payload(v, v.as_str(), &body).expect("map")
            })
            .filter(|a| a.vendor_status.is_closed())
            .map(|a| a.id())
            .collect()
    };
    while closing.contains(&h.state.selected_row().unwrap().id) {
        h.press("j");
    }
    let id = h.state.selected_row().unwrap().id.clone();
    let screen_row = h.state.selected - h.state.offset;
    let before = h.state.total;
    // The vendors report new and changed alerts; a sync page lands.
    let mut rng = Rng::new(99);
    world.evolve(&mut rng, 10, 3, NOW_MS + 60_000);
    import_world(&db, &world, NOW_MS + 60_000);
    h.send(Msg::StoreChanged);
    assert!(h.state.total > before, "{} → {}", before, h.state.total);
    assert_eq!(h.state.selected_row().unwrap().id, id);
    assert_eq!(h.state.selected - h.state.offset, screen_row);
    let marked = h
        .state
        .window
        .rows
        .iter()
        .filter(|r| h.state.freshness(r) != sitrep::console::model::Freshness::Seen)
        .count();
    assert!(marked > 0);
    h.press("g");
    let screen = h.screen();
    assert!(screen.contains('●') || screen.contains('◆'), "{screen}");
}

#[test]
fn help_is_generated_from_the_keymap() {
    let (_d, db, _) = fixture(4);
    let cfg = Config::from_text(None, "[keys]\n\"x\" = \"dismiss\"\n\"q\" = \"none\"\n").unwrap();
    let mut h = harness_with(&db, 120, 40, cfg.keymap);
    h.press("?");
    let screen = h.screen();
    insta::assert_snapshot!("help", screen);
    h.press("esc x");
    assert!(h.state.modal.is_some(), "x was rebound to dismiss");
    h.press("esc q");
    assert!(!h.state.quit, "q was unbound");
}

#[test]
fn tiny_terminal() {
    let (_d, db, _) = fixture(4);
    let mut h = harness(&db, 20, 5);
    insta::assert_snapshot!("tiny_20x5", h.screen());
    h.press("j enter l l d");
    let _ = h.screen();
}

#[test]
fn any_size_and_any_key_draws_without_panicking() {
    let (_d, db, _) = fixture(4);
    let mut h = harness(&db, 80, 24);
    for w in (0..=200u16).step_by(7) {
        for ht in 0..=50u16 {
            h.resize(w, ht);
            let _ = h.render();
        }
    }
    h.resize(20, 5);
    for keys in [
        "j", "G", "g", "enter", "l", "l", "l", "l", "tab", "j", "d", "esc", "?", "esc", "/", "esc",
        "z", "esc", "V", "U", "o",
    ] {
        h.press(keys);
        for (w, ht) in [(1, 1), (20, 5), (33, 9), (160, 45)] {
            h.resize(w, ht);
            let _ = h.render();
        }
    }
}

#[test]
fn colours_follow_the_theme_and_no_color() {
    let (_d, db, _) = fixture(4);
    let mut h = harness(&db, 70, 12);
    let dark = format!("{:?}", h.render());
    insta::assert_snapshot!("colours_dark_70x12", dark);
    h.state.theme = Theme::no_color();
    let plain = format!("{:?}", h.render());
    assert!(!plain.contains("Rgb("), "NO_COLOR draws no colours");
}
