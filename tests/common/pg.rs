//! A fresh PostgreSQL database per test on the machine's server (127.0.0.1:5432, trust auth;
//! `SITREP_TEST_PG` overrides the server URL), dropped at the end. Where no server answers the
//! test skips with a note; under CI (CI set) that is a failure.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

/// The server every test database is made on.
pub fn server_url() -> String {
    std::env::var("SITREP_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub struct TestDb {
    pub name: String,
    /// `postgres://postgres@127.0.0.1:5432/<name>?sslmode=disable`
    pub url: String,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Run one statement on the server's admin database, on a thread of its own (callers may be
/// inside a runtime).
fn admin(sql: String) -> Result<(), String> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(async {
            let (client, conn) = tokio_postgres::connect(&server_url(), tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            let task = tokio::spawn(conn);
            let out = client.batch_execute(&sql).await.map_err(|e| e.to_string());
            drop(client);
            let _ = task.await;
            out
        })
    })
    .join()
    .map_err(|_| "admin thread panicked".to_string())?
}

impl TestDb {
    /// This database as a migrated team store (on `rt`).
    pub fn migrated_team(&self, rt: &tokio::runtime::Runtime) -> sitrep::store::team::TeamStore {
        let target =
            sitrep::store::team::TeamTarget::parse(&self.url, None, None, false).expect("url");
        rt.block_on(async {
            let team = sitrep::store::team::TeamStore::connect_unchecked(&target)
                .await
                .expect("connect");
            team.migrate().await.expect("migrate");
            team
        })
    }

    /// Publish `store` to `team` (this database) and return the team's alert ids in order.
    pub fn published(
        &self,
        rt: &tokio::runtime::Runtime,
        store: &mut sitrep::store::Store,
        team: &sitrep::store::team::TeamStore,
    ) -> Vec<String> {
        rt.block_on(sitrep::team::publish(store, team))
            .expect("publish");
        self.query("SELECT id FROM alerts ORDER BY id")
            .into_iter()
            .flatten()
            .collect()
    }

    /// A new empty database, or None (skip) when no server answers outside CI.
    pub fn create() -> Option<TestDb> {
        let name = format!(
            "sitrep_t_{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        );
        let made = admin(format!("CREATE DATABASE {name}"));
        match made {
            Ok(()) => {
                let base = server_url();
                let server = base.rsplit_once('/').map_or(base.as_str(), |(s, _)| s);
                Some(TestDb {
                    url: format!("{server}/{name}?sslmode=disable"),
                    name,
                })
            }
            Err(e) => {
                let msg = format!("no PostgreSQL at {}: {e}", server_url());
                assert!(
                    std::env::var_os("CI").is_none(),
                    "{msg} (CI must run these)"
                );
                eprintln!("skipped: {msg}");
                None
            }
        }
    }

    /// Run SQL on this database (set-up and checks), returning the first column of each row
    /// as text. Runs on a thread of its own, so async tests may call it too.
    pub fn query(&self, sql: &str) -> Vec<Option<String>> {
        let base = server_url();
        let server = base
            .rsplit_once('/')
            .map_or(base.as_str(), |(s, _)| s)
            .to_string();
        let url = format!("{server}/{}", self.name);
        let sql = sql.to_string();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                    .await
                    .expect("connect");
                let task = tokio::spawn(conn);
                let rows = client.simple_query(&sql).await.expect("query");
                drop(client);
                let _ = task.await;
                rows.into_iter()
                    .filter_map(|m| match m {
                        tokio_postgres::SimpleQueryMessage::Row(r) => {
                            Some(r.get(0).map(str::to_string))
                        }
                        _ => None,
                    })
                    .collect()
            })
        })
        .join()
        .expect("query thread")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = admin(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}
