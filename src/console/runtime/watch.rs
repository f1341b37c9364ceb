//! Commits from other processes (`sitrep listen` upserting a pushed alert, a `sitrep sync`
//! or `sitrep import` in another terminal) reach the console as [`Msg::StoreChanged`], the
//! same reload with "changed" markers a background sync gives.
//!
//! SQLite has no cross-process notification; `PRAGMA data_version` on a connection of our
//! own moves whenever any other connection commits. The file system says when to ask: every
//! commit writes the database or its WAL, and the watcher thread sleeps on those writes
//! (inotify, kqueue, FSEvents through `notify`), so an idle console costs no CPU at all. Where
//! the system cannot watch (no inotify instances left, some network file systems), it falls
//! back to looking at the files' sizes and times twice a second.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc::UnboundedSender;

use crate::console::model::Msg;
use crate::store::Store;

/// How often the fallback looks: well inside the second a pushed alert is promised in.
const EVERY: Duration = Duration::from_millis(500);

/// After the first write of a burst, how long to let the rest of it arrive before asking the
/// store: one reload for an import's thousands of writes, still well inside the second.
const SETTLE: Duration = Duration::from_millis(150);

/// The longest the watcher sleeps without a write: it then asks the store anyway (a write the
/// file system did not report, e.g. from another machine on a network share) and notices a
/// console that has gone.
const SAFETY: Duration = Duration::from_secs(30);

/// Watch `db` on a thread of its own until the console's channel closes. The first reading
/// is taken before this returns, so every commit after it is seen.
pub fn spawn(db: PathBuf, tx: UnboundedSender<Msg>) {
    if !db.exists() {
        // In memory, or not created yet: nothing another process could write to.
        return;
    }
    let store = match Store::open(&db) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("store watcher: {e}");
            return;
        }
    };
    let seen = store.data_version().ok();
    match FileEvents::new(&db) {
        Ok(events) => {
            std::thread::spawn(move || on_writes(&store, seen, events, &db, &tx));
        }
        Err(e) => {
            tracing::warn!(
                "store watcher: the file system cannot report writes ({e}); looking every {} ms",
                EVERY.as_millis()
            );
            std::thread::spawn(move || poll(&store, seen, &db, &tx));
        }
    }
}

/// The fallback: compare the files' sizes and times every [`EVERY`], ask the store when they
/// moved.
fn poll(store: &Store, mut seen: Option<i64>, db: &Path, tx: &UnboundedSender<Msg>) {
    // No stamp yet: the first look asks the store, so a commit between `seen` and this
    // thread's start (stamped here, it would look unchanged) is not missed.
    let mut last = Vec::new();
    while !tx.is_closed() {
        std::thread::sleep(EVERY);
        let now = stamp(db);
        if now == last {
            continue;
        }
        last = now;
        if !changed(store, &mut seen, tx) {
            return;
        }
    }
}

/// A watcher on `db`'s folder that sends one `()` per write to the database or its WAL.
/// The folder, not the files: the WAL is created and removed as connections come and go.
struct FileEvents {
    // Dropping the watcher stops the events: it lives as long as the watching thread.
    watcher: notify::RecommendedWatcher,
    dir: PathBuf,
    writes: mpsc::Receiver<()>,
}

impl FileEvents {
    fn new(db: &Path) -> notify::Result<FileEvents> {
        let dir = match db.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let names = [
            db.file_name().map(|n| n.to_os_string()),
            wal_path(db).file_name().map(|n| n.to_os_string()),
        ];
        let (tx, writes) = mpsc::channel();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let ours = match &event {
                // Access events (opens, reads) are ours too on some back-ends; only writes count.
                Ok(e) if e.kind.is_access() => false,
                Ok(e) => e.paths.iter().any(|p| {
                    p.file_name()
                        .is_some_and(|n| names.iter().flatten().any(|m| m == n))
                }),
                // An overflow or a back-end error: ask the store rather than miss a commit.
                Err(_) => true,
            };
            if ours {
                let _ = tx.send(());
            }
        })?;
        let mut events = FileEvents {
            watcher,
            dir,
            writes,
        };
        events.resume()?;
        Ok(events)
    }

    /// Stop the reports: a commit is hundreds of page writes and each is an event, so a sync
    /// writing beside the console woke its threads thousands of times a second (three
    /// quarters of the console's CPU went to the event thread at 1M alerts).
    fn pause(&mut self) {
        let _ = self.watcher.unwatch(&self.dir);
    }

    fn resume(&mut self) -> notify::Result<()> {
        self.watcher.watch(&self.dir, RecursiveMode::NonRecursive)
    }
}

/// Sleep until a write (or [`SAFETY`]); then, not listening, let the burst settle, listen
/// again and ask the store once. Asking after listening again misses nothing: a commit
/// before it is in the answer, one after it is reported.
fn on_writes(
    store: &Store,
    mut seen: Option<i64>,
    mut events: FileEvents,
    db: &Path,
    tx: &UnboundedSender<Msg>,
) {
    loop {
        match events.writes.recv_timeout(SAFETY) {
            Ok(()) => {
                events.pause();
                std::thread::sleep(SETTLE);
                while events.writes.try_recv().is_ok() {}
                if let Err(e) = events.resume() {
                    tracing::warn!(
                        "store watcher: cannot watch the store's folder again ({e}); looking every {} ms",
                        EVERY.as_millis()
                    );
                    if changed(store, &mut seen, tx) {
                        poll(store, seen, db, tx);
                    }
                    return;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        if tx.is_closed() || !changed(store, &mut seen, tx) {
            return;
        }
    }
}

/// Ask the store whether another connection committed since `seen`; tell the console if so.
/// False when the watcher should stop (the store cannot be read, or the console has gone).
fn changed(store: &Store, seen: &mut Option<i64>, tx: &UnboundedSender<Msg>) -> bool {
    let now = match store.data_version() {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!("store watcher: {e}");
            return false;
        }
    };
    if now != *seen {
        *seen = now;
        return tx.send(Msg::StoreChanged).is_ok();
    }
    true
}

/// The database's and WAL's sizes and times: the fallback's cheap "did anything move".
fn stamp(db: &Path) -> Vec<Option<(u64, Option<std::time::SystemTime>)>> {
    [db.to_path_buf(), wal_path(db)]
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .ok()
                .map(|m| (m.len(), m.modified().ok()))
        })
        .collect()
}

/// SQLite's write-ahead log beside `db`.
fn wal_path(db: &std::path::Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Vendor;

    /// A store file in a folder of its own, and a writer on it.
    fn fresh() -> (tempfile::TempDir, PathBuf, Store) {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("watch.db");
        let writer = Store::open(&db).expect("store");
        (dir, db, writer)
    }

    /// One commit of new alerts (another seed, other alerts).
    fn commit(writer: &mut Store, seed: u64) {
        let world = crate::sim::world::World::generate(seed, 2, 1_760_000_000_000);
        let body = crate::vendors::emit::vendor_body(Vendor::Wiz, &world);
        let alerts = crate::vendors::map_payload(Vendor::Wiz, "wiz", &body).expect("map");
        writer.import(&alerts, 1_760_000_000_000).expect("import");
    }

    /// The next message within `wait`, or None.
    fn next_within(
        rx: &mut tokio::sync::mpsc::UnboundedReceiver<Msg>,
        wait: Duration,
    ) -> Option<Msg> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("rt");
        rt.block_on(async { tokio::time::timeout(wait, rx.recv()).await })
            .ok()
            .flatten()
    }

    #[test]
    fn another_connections_commit_reaches_the_console() {
        let (_dir, db, mut writer) = fresh();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        spawn(db.clone(), tx);
        // Nothing committed: nothing to say (a watcher that fires on its own would reload
        // an idle console for nothing).
        assert!(next_within(&mut rx, Duration::from_millis(800)).is_none());
        commit(&mut writer, 1);
        // Well under SAFETY: only a reported write can wake the watcher this soon.
        let got = next_within(&mut rx, Duration::from_secs(5));
        assert!(matches!(got, Some(Msg::StoreChanged)), "{got:?}");
    }

    /// Paused, the watcher is not told of writes at all (the kernel stops reporting them),
    /// and listening again reports the next one.
    #[test]
    fn a_paused_watcher_hears_no_writes() {
        let (_dir, db, mut writer) = fresh();
        let mut events = FileEvents::new(&db).expect("events");
        commit(&mut writer, 1);
        assert!(events.writes.recv_timeout(Duration::from_secs(5)).is_ok());
        events.pause();
        std::thread::sleep(Duration::from_millis(200));
        while events.writes.try_recv().is_ok() {}
        for seed in 2..6 {
            commit(&mut writer, seed);
        }
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(
            events.writes.try_iter().count(),
            0,
            "writes heard while paused"
        );
        events.resume().expect("resume");
        commit(&mut writer, 9);
        assert!(events.writes.recv_timeout(Duration::from_secs(5)).is_ok());
    }

    /// Commits arriving faster than the watcher settles, in and out of its pauses: the
    /// console hears of the store after the last one (a watcher that asked before listening
    /// again could miss a commit made while it was not listening, until SAFETY).
    #[test]
    fn a_stream_of_commits_is_heard_to_its_end() {
        let (_dir, db, mut writer) = fresh();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        spawn(db.clone(), tx);
        // Each message stamped as it arrives, by a listener waiting on the channel.
        let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stamps = heard.clone();
        let listener = std::thread::spawn(move || {
            while let Some(m) = next_within(&mut rx, Duration::from_secs(3)) {
                assert!(matches!(m, Msg::StoreChanged), "{m:?}");
                stamps
                    .lock()
                    .expect("stamps")
                    .push(std::time::Instant::now());
            }
        });
        for seed in 1..=12 {
            commit(&mut writer, seed);
            std::thread::sleep(Duration::from_millis(45));
        }
        // The last commit, most likely while the watcher is not listening (45 ms after one
        // it heard): only a look after listening again can report it.
        let last = std::time::Instant::now();
        commit(&mut writer, 13);
        listener.join().expect("listener");
        let heard = heard.lock().expect("stamps");
        assert!(
            (1..=13).contains(&heard.len()),
            "{} reloads for 13 commits",
            heard.len()
        );
        assert!(
            heard.last().is_some_and(|t| *t > last),
            "nothing heard after the last commit"
        );
    }

    #[test]
    fn the_fallback_sees_a_commit_by_looking() {
        let (_dir, db, mut writer) = fresh();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let store = Store::open(&db).expect("watcher's store");
        let seen = store.data_version().ok();
        let path = db.clone();
        std::thread::spawn(move || poll(&store, seen, &path, &tx));
        commit(&mut writer, 1);
        let got = next_within(&mut rx, Duration::from_secs(5));
        assert!(matches!(got, Some(Msg::StoreChanged)), "{got:?}");
    }
}
