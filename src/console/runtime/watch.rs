//! Commits from other processes (`sitrep listen` upserting a pushed alert, a `sitrep sync`
//! or `sitrep import` in another terminal) reach the console as [`Msg::StoreChanged`], the
//! same reload with "changed" markers a background sync gives.
//!
//! SQLite has no cross-process notification; `PRAGMA data_version` on a connection of our
//! own moves whenever any other connection commits, and reading it costs no I/O beyond the
//! WAL index, so a short poll keeps a pushed alert's way to the screen under a second.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::console::model::Msg;

/// How often the watcher looks: well inside the second a pushed alert is promised in.
const EVERY: Duration = Duration::from_millis(500);

/// Watch `db` on a thread of its own until the console's channel closes. The first reading
/// is taken before this returns, so every commit after it is seen.
pub fn spawn(db: PathBuf, tx: UnboundedSender<Msg>) {
    if !db.exists() {
        // In memory, or not created yet: nothing another process could write to.
        return;
    }
    let store = match crate::store::Store::open(&db) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("store watcher: {e}");
            return;
        }
    };
    let mut seen = store.data_version().ok();
    // A commit appends to the WAL (or, out of WAL mode, rewrites the file): the files'
    // sizes and times are read first, with two stat calls, and the store is asked only when
    // they moved, so an idle console costs next to nothing between looks.
    let files = [db.clone(), wal_path(&db)];
    let stamp = move || {
        files
            .iter()
            .map(|f| {
                std::fs::metadata(f)
                    .ok()
                    .map(|m| (m.len(), m.modified().ok()))
            })
            .collect::<Vec<_>>()
    };
    let mut last = stamp();
    std::thread::spawn(move || {
        while !tx.is_closed() {
            std::thread::sleep(EVERY);
            let files_now = stamp();
            if files_now == last {
                continue;
            }
            last = files_now;
            let now = match store.data_version() {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::warn!("store watcher: {e}");
                    return;
                }
            };
            if now != seen {
                seen = now;
                if tx.send(Msg::StoreChanged).is_err() {
                    return;
                }
            }
        }
    });
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

    #[test]
    fn another_connections_commit_reaches_the_console() {
        let dir = tempfile::tempdir().expect("dir");
        let db = dir.path().join("watch.db");
        let mut writer = crate::store::Store::open(&db).expect("store");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        spawn(db.clone(), tx);
        let world = crate::sim::world::World::generate(1, 2, 1_760_000_000_000);
        let body = crate::vendors::emit::vendor_body(Vendor::Wiz, &world);
        let alerts = crate::vendors::map_payload(Vendor::Wiz, "wiz", &body).expect("map");
        writer.import(&alerts, 1_760_000_000_000).expect("import");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("rt");
        // A deadline so a broken watcher fails the test instead of hanging it.
        let got =
            rt.block_on(async { tokio::time::timeout(Duration::from_secs(30), rx.recv()).await });
        assert!(matches!(got, Ok(Some(Msg::StoreChanged))), "{got:?}");
    }
}
