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
const EVERY: Duration = Duration::from_millis(300);

/// Watch `db` on a thread of its own until the console's channel closes.
pub fn spawn(db: PathBuf, tx: UnboundedSender<Msg>) {
    if !db.exists() {
        // In memory, or not created yet: nothing another process could write to.
        return;
    }
    std::thread::spawn(move || {
        let store = match crate::store::Store::open(&db) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("store watcher: {e}");
                return;
            }
        };
        let mut seen = store.data_version().ok();
        while !tx.is_closed() {
            std::thread::sleep(EVERY);
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
