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
    match file_events(&db) {
        Ok((watcher, writes)) => {
            std::thread::spawn(move || {
                // Dropping the watcher stops the events: it lives as long as this thread.
                let _watcher = watcher;
                on_writes(&store, seen, &writes, &tx);
            });
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
    let mut last = stamp(db);
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
fn file_events(db: &Path) -> notify::Result<(notify::RecommendedWatcher, mpsc::Receiver<()>)> {
    let dir = match db.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let names = [
        db.file_name().map(|n| n.to_os_string()),
        wal_path(db).file_name().map(|n| n.to_os_string()),
    ];
    let (tx, rx) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
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
    watcher.watch(&dir, RecursiveMode::NonRecursive)?;
    Ok((watcher, rx))
}

/// Sleep until a write (or [`SAFETY`]), let the burst settle, ask the store once.
fn on_writes(
    store: &Store,
    mut seen: Option<i64>,
    writes: &mpsc::Receiver<()>,
    tx: &UnboundedSender<Msg>,
) {
    loop {
        match writes.recv_timeout(SAFETY) {
            Ok(()) => {
                std::thread::sleep(SETTLE);
                while writes.try_recv().is_ok() {}
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

    fn commit_one(writer: &mut Store) {
        let world = crate::sim::world::World::generate(1, 2, 1_760_000_000_000);
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
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("watch.db");
        let mut writer = Store::open(&db).expect("store");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        spawn(db.clone(), tx);
        // Nothing committed: nothing to say (a watcher that fires on its own would reload
        // an idle console for nothing).
        assert!(next_within(&mut rx, Duration::from_millis(800)).is_none());
        commit_one(&mut writer);
        // Well under SAFETY: only a reported write can wake the watcher this soon.
        let got = next_within(&mut rx, Duration::from_secs(5));
        assert!(matches!(got, Some(Msg::StoreChanged)), "{got:?}");
    }

    #[test]
    fn the_fallback_sees_a_commit_by_looking() {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("watch.db");
        let mut writer = Store::open(&db).expect("store");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let store = Store::open(&db).expect("watcher's store");
        let seen = store.data_version().ok();
        let path = db.clone();
        std::thread::spawn(move || poll(&store, seen, &path, &tx));
        commit_one(&mut writer);
        let got = next_within(&mut rx, Duration::from_secs(5));
        assert!(matches!(got, Some(Msg::StoreChanged)), "{got:?}");
    }
}
