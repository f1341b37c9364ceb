//! Every vendor's client against its simulator over real HTTP on loopback: the cases every
//! vendor shares run over `Vendor::ALL` (`shared`), each vendor's own cases sit in its section
//! (5,000 alerts through faults, incremental windows, malformed pages, write-back, and what
//! only that vendor does).

#[path = "common/sync_orcaxdr.rs"]
mod orcaxdr;
#[path = "common/sim_source.rs"]
mod sim_source;
#[path = "common/sync_prisma.rs"]
mod sync_prisma;
#[path = "common/sync_wizlw.rs"]
mod wizlw;

/// The cases every vendor shares, driven by `Vendor::ALL`.
mod shared {
    use sitrep::config::{CredentialRef, Secret};
    use sitrep::domain::{Alert, Vendor};
    use sitrep::sim::server::{Counters, Faults, SimOptions};
    use sitrep::sources::api::{ApiError, PageSink, SourceClient, Window};
    use sitrep::vendors::connect;

    /// Counts pages; stores nothing.
    #[derive(Default)]
    struct Pages(usize);

    impl PageSink for Pages {
        fn page(&mut self, _alerts: Vec<Alert>) -> Result<(), ApiError> {
            self.0 += 1;
            Ok(())
        }
    }

    pub use super::sim_source::source_config as config;

    use super::sim_source::wrong_secret;

    /// A refused secret is an `Unauthorized` naming the source, with neither the wrong nor
    /// the right secret in it, no page delivered, and no retry storm: vendors with a login
    /// call stop after at most two logins and no data request; token-per-request vendors
    /// (Orca, Cortex XDR) send the request and one replay.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wrong_credentials_fail_cleanly() {
        for v in Vendor::ALL {
            let h = sitrep::vendors::sim::start(
                v,
                SimOptions {
                    alerts: 50,
                    seed: 1,
                    ..SimOptions::default()
                },
            )
            .await
            .expect("sim");
            let cfg = config(&h);
            let (key, wrong) = wrong_secret(v);
            assert!(v.credential_names().contains(&key), "{v}: {key}");
            let mut bad = cfg.clone();
            bad.credentials
                .insert(key.into(), CredentialRef::Literal(Secret::new(&wrong)));
            let mut client = connect(&bad).expect("client");
            let mut sink = Pages::default();
            let err = client
                .fetch(
                    Window {
                        since: None,
                        until: chrono::Utc::now().timestamp_millis(),
                        filter: None,
                    },
                    &mut sink,
                )
                .await
                .expect_err("refused");
            let text = err.to_string();
            assert!(matches!(err, ApiError::Unauthorized(_)), "{v}: {err:?}");
            assert!(text.contains(&cfg.name), "{v}: names the source: {text}");
            assert!(!text.contains(&wrong), "{v}: the secret leaked: {text}");
            let right = match cfg.credentials.get(key) {
                Some(CredentialRef::Literal(s)) => s.expose().to_string(),
                other => panic!("{v}: {other:?}"),
            };
            assert!(!text.contains(&right), "{v}: the secret leaked: {text}");
            assert_eq!(sink.0, 0, "{v}");
            let k = &h.state.counters;
            match v {
                Vendor::Orca | Vendor::CortexXdr => {
                    assert_eq!(
                        Counters::get(&k.unauthorized),
                        2,
                        "{v}: the request and one replay"
                    );
                    assert_eq!(Counters::get(&k.data_requests), 2, "{v}: no retry storm");
                }
                _ => {
                    assert!(Counters::get(&k.auth_requests) <= 2, "{v}");
                    assert_eq!(Counters::get(&k.data_requests), 0, "{v}");
                }
            }
            match v {
                Vendor::PrismaCspm => assert!(
                    text.contains("invalid_credentials") || text.contains("401"),
                    "{text}"
                ),
                Vendor::Orca => assert_eq!(Counters::get(&client.stats().reauths), 1),
                _ => {}
            }
            // Where the old per-vendor cases named the right secret by position.
            match v {
                Vendor::Wiz | Vendor::Lacework => assert!(!text.contains(h.env[1].1.as_str())),
                Vendor::Orca => assert!(!text.contains(h.env[0].1.as_str())),
                Vendor::CortexXdr => {
                    let (_, right) = sitrep::vendors::cortex_xdr::sim::server::advanced_key(1);
                    assert!(!text.contains(&right), "no secret in: {text}");
                }
                _ => {}
            }
            h.stop().await;
        }
    }

    /// How each vendor's malformed-page case is set up and what it leaves behind.
    struct Malformed {
        alerts: usize,
        seed: u64,
        truncate_at: Vec<u64>,
        page_size: Option<u32>,
        options: &'static [(&'static str, &'static str)],
        /// Pages (Cortex XDR: windows) delivered before the one that stays malformed.
        good_pages: usize,
        /// Alerts stored from them (None: some).
        stored: Option<usize>,
        /// Truncated replies served: the bad page's first try and two retries.
        truncated: Option<u64>,
        data_requests: Option<u64>,
    }

    fn malformed(v: Vendor) -> Malformed {
        let m = |alerts, seed, truncate_at: Vec<u64>, page_size, good_pages, stored| Malformed {
            alerts,
            seed,
            truncate_at,
            page_size,
            options: &[],
            good_pages,
            stored,
            truncated: Some(3),
            data_requests: None,
        };
        match v {
            Vendor::PrismaCspm => m(500, 42, (3..=12).collect(), Some(100), 2, Some(200)),
            Vendor::PrismaCompute => m(500, 7, (2..=12).collect(), Some(50), 1, Some(50)),
            Vendor::Wiz => m(1000, 1, vec![3, 4, 5], Some(100), 2, Some(200)),
            Vendor::Lacework => Malformed {
                options: &[("details", "false")],
                ..m(1000, 1, vec![3, 4, 5], None, 2, None)
            },
            Vendor::Orca => Malformed {
                data_requests: Some(4),
                ..m(1000, 1, vec![2, 3, 4], Some(250), 1, Some(250))
            },
            Vendor::CortexXdr => Malformed {
                truncated: None,
                data_requests: Some(4),
                ..m(500, 1, vec![2, 3, 4], None, 1, Some(100))
            },
        }
    }

    /// Imports each page into an in-memory store.
    struct Stored {
        store: sitrep::store::Store,
        pages: usize,
    }

    impl PageSink for Stored {
        fn page(&mut self, alerts: Vec<Alert>) -> Result<(), ApiError> {
            self.pages += 1;
            self.store
                .import(&alerts, chrono::Utc::now().timestamp_millis())
                .map_err(|e| ApiError::Store(e.to_string()))?;
            Ok(())
        }
    }

    /// A page that stays malformed through the retries fails the run as `Malformed`, naming
    /// the source, and the pages before it stay delivered and stored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_page_that_stays_malformed_fails_after_earlier_pages_were_kept() {
        for v in Vendor::ALL {
            let want = malformed(v);
            let h = sitrep::vendors::sim::start(
                v,
                SimOptions {
                    alerts: want.alerts,
                    seed: want.seed,
                    faults: Faults {
                        truncate_at: want.truncate_at.clone(),
                        ..Faults::none()
                    },
                    ..SimOptions::default()
                },
            )
            .await
            .expect("sim");
            let mut cfg = config(&h);
            cfg.page_size = want.page_size;
            cfg.max_retries = 2;
            for (k, val) in want.options {
                cfg.options.insert((*k).into(), (*val).into());
            }
            let mut client = connect(&cfg).expect("client");
            let mut sink = Stored {
                store: sitrep::store::Store::open_in_memory().expect("store"),
                pages: 0,
            };
            let err = client
                .fetch(
                    Window {
                        since: None,
                        until: chrono::Utc::now().timestamp_millis(),
                        filter: None,
                    },
                    &mut sink,
                )
                .await
                .expect_err("malformed");
            assert!(matches!(err, ApiError::Malformed { .. }), "{v}: {err:?}");
            assert!(err.to_string().contains(&cfg.name), "{v}: {err}");
            assert_eq!(
                sink.pages, want.good_pages,
                "{v}: the good pages stay delivered"
            );
            let total = sink.store.total().expect("total");
            match want.stored {
                Some(n) => assert_eq!(total, n, "{v}"),
                None => assert!(total > 0, "{v}"),
            }
            let k = &h.state.counters;
            if let Some(n) = want.truncated {
                assert_eq!(Counters::get(&k.truncated), n, "{v}");
            }
            if let Some(n) = want.data_requests {
                assert_eq!(Counters::get(&k.data_requests), n, "{v}");
            }
            h.stop().await;
        }
    }
}

mod prisma_cspm {
    //! Prisma Cloud CSPM: the client against its simulator over real HTTP on loopback.

    use super::sync_prisma;
    use std::collections::HashSet;
    use std::time::Duration;

    use sitrep::domain::{DismissReason, Status, Vendor, VendorState};
    use sitrep::sim::server::{Faults, SimHandle, SimOptions};
    use sitrep::sim::world::SimStatus;
    use sitrep::sources::api::{Window, WriteBack, WriteOutcome};
    use sitrep::vendors::connect;
    use sitrep::vendors::emit;
    use sync_prisma::{StoreSink, counter, now_ms, source_config};

    const V: Vendor = Vendor::PrismaCspm;

    async fn start(alerts: usize, faults: Faults) -> SimHandle {
        sitrep::vendors::sim::start(
            V,
            SimOptions {
                alerts,
                faults,
                seed: 42,
                ..SimOptions::default()
            },
        )
        .await
        .expect("simulator starts")
    }

    fn vendor_state(s: SimStatus) -> VendorState {
        match s {
            SimStatus::Open => VendorState::Open,
            SimStatus::InProgress => VendorState::InProgress,
            SimStatus::Resolved => VendorState::Resolved,
            SimStatus::Dismissed => VendorState::Dismissed,
        }
    }

    /// The store holds exactly the simulator's alerts, with their statuses and severities.
    async fn assert_store_equals_world(handle: &SimHandle, sink: &StoreSink, source: &str) {
        let world = handle.state.world.read().await;
        let want: HashSet<String> = world
            .findings_for(V)
            .map(|f| emit::native_id(V, &world, f))
            .collect();
        let have = sink.stored_ids(source);
        let missing = want.difference(&have).count();
        let extra = have.difference(&want).count();
        assert_eq!(
            (missing, extra),
            (0, 0),
            "missing / extra alerts in the store"
        );
        for f in world.findings_for(V) {
            let id = emit::native_id(V, &world, f);
            let a = sink
                .latest
                .get(&id)
                .map(|a| (a.vendor_status.clone(), a.severity.clone()));
            if let Some((status, severity)) = a {
                assert_eq!(status, vendor_state(f.status), "{id}");
                assert_eq!(severity, f.severity.severity(), "{id}");
            }
        }
        // A sample straight from the store.
        for f in world.findings_for(V).step_by(97) {
            let id = emit::native_id(V, &world, f);
            let s = sink.stored(source, &id);
            assert_eq!(s.alert.vendor_status, vendor_state(f.status), "{id}");
            assert_eq!(s.alert.severity, f.severity.severity(), "{id}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn syncs_5000_alerts_through_faults() {
        let handle = start(5000, Faults::standard()).await;
        let mut cfg = source_config(&handle);
        cfg.page_size = Some(250);
        let mut client = connect(&cfg).expect("client");
        let mut sink = StoreSink::new();
        let started = std::time::Instant::now();
        client
            .fetch(
                Window {
                    since: None,
                    until: now_ms(),
                    filter: None,
                },
                &mut sink,
            )
            .await
            .expect("sync through faults");
        assert_eq!(sink.delivered.len(), 5000);
        assert_eq!(sink.duplicates(), 0);
        assert_store_equals_world(&handle, &sink, &cfg.name).await;

        let c = &handle.state.counters;
        assert_eq!(counter(&c.early_requests), 0, "requests before Retry-After");
        assert!(counter(&c.rate_limited) >= 3, "429s served");
        assert_eq!(counter(&c.expiries), 1);
        assert_eq!(
            counter(&c.logins),
            2,
            "one login, one re-login after expiry"
        );
        assert_eq!(counter(&c.unauthorized), 1);
        assert_eq!(
            counter(&c.server_errors),
            3,
            "the 5xx burst was served and retried"
        );
        assert_eq!(
            counter(&c.truncated),
            1,
            "the truncated page was served and re-fetched"
        );
        let stats = client.stats();
        assert_eq!(sitrep::sources::api::Stats::get(&stats.reauths), 1);
        assert!(sitrep::sources::api::Stats::get(&stats.rate_limited) >= 3);
        // 20 pages, 3 × 429, 1 × 401, 3 × 503, 1 truncated: every one of them was answered.
        assert_eq!(counter(&c.data_requests), 20 + 3 + 1 + 3 + 1);
        eprintln!(
            "5,000 CSPM alerts through faults in {:?}",
            started.elapsed()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn incremental_sync_fetches_only_the_window() {
        let handle = start(5000, Faults::none()).await;
        let mut cfg = source_config(&handle);
        cfg.page_size = Some(1000);
        let mut client = connect(&cfg).expect("client");
        let mut sink = StoreSink::new();
        let started = std::time::Instant::now();
        client
            .fetch(
                Window {
                    since: None,
                    until: now_ms(),
                    filter: None,
                },
                &mut sink,
            )
            .await
            .expect("first sync");
        eprintln!(
            "5,000 CSPM alerts without faults in {:?} (store import {:?})",
            started.elapsed(),
            sink.import_time
        );
        assert_eq!(sink.delivered.len(), 5000);
        let watermark = sink.max_updated.expect("a watermark");

        tokio::time::sleep(Duration::from_millis(5)).await;
        handle.evolve(500, 100).await;
        let requests_before = counter(&handle.state.counters.data_requests);
        sink.reset_counts();
        let since = watermark - cfg.overlap.as_millis() as i64;
        client
            .fetch(
                Window {
                    since: Some(since),
                    until: now_ms(),
                    filter: None,
                },
                &mut sink,
            )
            .await
            .expect("incremental sync");
        let served = sink.delivered.len();
        let changed: usize = {
            let world = handle.state.world.read().await;
            world
                .findings_for(V)
                .filter(|f| f.updated_ms >= since)
                .count()
        };
        // Only the window was asked for and served: the changed and new alerts (plus any the
        // overlap re-reads), far fewer than the 5,100.
        assert_eq!(
            served, changed,
            "served exactly the alerts updated since the watermark"
        );
        assert!((100..1000).contains(&served), "served {served}");
        assert_eq!(sink.duplicates(), 0);
        let requests = counter(&handle.state.counters.data_requests) - requests_before;
        assert!(requests <= 2, "{requests} requests for the window");
        assert_store_equals_world(&handle, &sink, &cfg.name).await;
        assert_eq!(sink.stored_ids(&cfg.name).len(), 5100);
    }

    async fn full(client: &mut dyn sitrep::sources::api::SourceClient) -> StoreSink {
        let mut sink = StoreSink::new();
        client
            .fetch(
                Window {
                    since: None,
                    until: now_ms(),
                    filter: None,
                },
                &mut sink,
            )
            .await
            .expect("fetch");
        sink
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn write_back_dismiss_snooze_reopen_and_the_unsupported() {
        let handle = start(200, Faults::none()).await;
        let mut cfg = source_config(&handle);
        cfg.options.insert("token_renew_after".into(), "1s".into());
        let mut client = connect(&cfg).expect("client");
        let open: Vec<String> = {
            let world = handle.state.world.read().await;
            world
                .findings_for(V)
                .filter(|f| f.status == SimStatus::Open)
                .take(2)
                .map(|f| emit::native_id(V, &world, f))
                .collect()
        };
        let (a, b) = (open[0].clone(), open[1].clone());

        let dismiss = WriteBack::SetStatus {
            native_id: a.clone(),
            status: Status::Dismissed {
                reason: DismissReason::AcceptedRisk,
                note: Some("compensating control".into()),
                until: None,
            },
            note: None,
        };
        assert_eq!(
            client.write_back(&dismiss).await.expect("dismiss"),
            WriteOutcome::Done
        );
        let until = now_ms() + 7 * 86_400_000;
        let snooze = WriteBack::SetStatus {
            native_id: b.clone(),
            status: Status::Snoozed { until, note: None },
            note: Some("waiting for the change window".into()),
        };
        assert_eq!(
            client.write_back(&snooze).await.expect("snooze"),
            WriteOutcome::Done
        );

        let sink = full(&mut client).await;
        let got_a = &sink.latest[&a];
        assert_eq!(got_a.vendor_status, VendorState::Dismissed);
        assert_eq!(got_a.raw["dismissalNote"], "compensating control");
        let got_b = &sink.latest[&b];
        assert_eq!(got_b.vendor_status, VendorState::Snoozed);
        let snoozed_until = got_b.raw["dismissalUntilTs"].as_i64().expect("snooze end");
        assert!(snoozed_until >= until && snoozed_until < until + 3_600_000 + 60_000);
        assert_eq!(
            sink.stored(&cfg.name, &a).alert.vendor_status,
            VendorState::Dismissed
        );

        // Dismissing it again (a redelivery): the alert is no longer open — Prisma's 404
        // alert_no_longer_in_expected_state — which the client reports as already done.
        match client.write_back(&dismiss).await {
            Ok(WriteOutcome::Already(reason)) => assert!(reason.contains("no longer"), "{reason}"),
            other => panic!("expected Already, got {other:?}"),
        }

        // The token is renewed through /auth_token/extend, not a new login.
        let logins = counter(&handle.state.counters.logins);
        let auths = counter(&handle.state.counters.auth_requests);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let reopen = WriteBack::SetStatus {
            native_id: a.clone(),
            status: Status::New,
            note: None,
        };
        assert_eq!(
            client.write_back(&reopen).await.expect("reopen"),
            WriteOutcome::Done
        );
        assert_eq!(
            counter(&handle.state.counters.logins),
            logins,
            "extended, not logged in"
        );
        assert_eq!(counter(&handle.state.counters.auth_requests), auths + 1);

        let sink = full(&mut client).await;
        assert_eq!(sink.latest[&a].vendor_status, VendorState::Open);
        assert_eq!(sink.latest[&b].vendor_status, VendorState::Snoozed);

        for (action, what) in [
            (
                WriteBack::SetStatus {
                    native_id: a.clone(),
                    status: Status::Resolved {
                        reason: "fixed".into(),
                    },
                    note: None,
                },
                "resolve",
            ),
            (
                WriteBack::SetStatus {
                    native_id: a.clone(),
                    status: Status::Acknowledged,
                    note: None,
                },
                "acknowledge",
            ),
            (
                WriteBack::SetStatus {
                    native_id: a.clone(),
                    status: Status::InProgress,
                    note: None,
                },
                "in progress",
            ),
            (
                WriteBack::Comment {
                    native_id: a.clone(),
                    text: "looked at it".into(),
                },
                "comment",
            ),
        ] {
            match client.write_back(&action).await.expect(what) {
                WriteOutcome::Unsupported(reason) => assert!(reason.len() > 20, "{what}: {reason}"),
                other => panic!("{what} should be unsupported, got {other:?}"),
            }
        }
        let after = full(&mut client).await;
        assert_eq!(after.latest[&a].vendor_status, VendorState::Open);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_last_page_token_is_not_followed_past_total_rows() {
        // 250 alerts in pages of 100: pages 1-3 hold them all; the token on page 3 is ignored.
        let handle = start(250, Faults::none()).await;
        let mut cfg = source_config(&handle);
        cfg.page_size = Some(100);
        let mut client = connect(&cfg).expect("client");
        let sink = full(&mut client).await;
        assert_eq!(sink.delivered.len(), 250);
        assert_eq!(sink.pages, 3);
        assert_eq!(counter(&handle.state.counters.data_requests), 3);
        // Exactly 300: a page boundary on the total; the client stops without asking again.
        let handle = start(300, Faults::none()).await;
        let mut cfg = source_config(&handle);
        cfg.page_size = Some(100);
        let mut client = connect(&cfg).expect("client");
        let sink = full(&mut client).await;
        assert_eq!(sink.delivered.len(), 300);
        assert_eq!(counter(&handle.state.counters.data_requests), 3);
    }
}

mod prisma_compute {
    //! Prisma Cloud Compute: the client against its simulator over real HTTP on loopback.

    use super::sync_prisma;
    use std::collections::{HashMap, HashSet};
    use std::time::Duration;

    use sitrep::domain::{DismissReason, Status, Vendor, VendorState};
    use sitrep::sim::server::{Faults, SimHandle, SimOptions};
    use sitrep::sim::world::{RuleCategory, SimStatus};
    use sitrep::sources::api::{ApiError, Stats, Window, WriteBack, WriteOutcome};
    use sitrep::vendors::connect;
    use sitrep::vendors::emit;
    use sitrep::vendors::prisma_compute::sim::server::{Endpoint, endpoint_of};
    use sync_prisma::{StoreSink, counter, fetch_all, now_ms, source_config};

    const V: Vendor = Vendor::PrismaCompute;

    async fn start(alerts: usize, faults: Faults) -> SimHandle {
        sitrep::vendors::sim::start(
            V,
            SimOptions {
                alerts,
                faults,
                seed: 7,
                ..SimOptions::default()
            },
        )
        .await
        .expect("simulator starts")
    }

    /// What the mapper makes of a finding's state: incidents are open or archived (resolved);
    /// a vulnerability or compliance issue listed in a scan result is open.
    fn vendor_state(category: RuleCategory, s: SimStatus) -> VendorState {
        match (category, s) {
            (RuleCategory::Runtime, SimStatus::Resolved | SimStatus::Dismissed) => {
                VendorState::Resolved
            }
            _ => VendorState::Open,
        }
    }

    /// native id → (expected state, severity, endpoint) for every finding in the world.
    async fn truth(
        handle: &SimHandle,
    ) -> HashMap<String, (VendorState, sitrep::domain::Severity, Endpoint)> {
        let world = handle.state.world.read().await;
        world
            .findings_for(V)
            .map(|f| {
                (
                    emit::native_id(V, &world, f),
                    (
                        vendor_state(f.rule.category, f.status),
                        f.severity.severity(),
                        endpoint_of(&world, f),
                    ),
                )
            })
            .collect()
    }

    async fn assert_store_equals_world(handle: &SimHandle, sink: &StoreSink, source: &str) {
        let want = truth(handle).await;
        let have = sink.stored_ids(source);
        let want_ids: HashSet<String> = want.keys().cloned().collect();
        let missing: Vec<&String> = want_ids.difference(&have).take(5).collect();
        let extra: Vec<&String> = have.difference(&want_ids).take(5).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "missing {missing:?}, extra {extra:?}"
        );
        for (id, (state, severity, _)) in &want {
            if let Some(a) = sink.latest.get(id) {
                assert_eq!(&a.vendor_status, state, "{id}");
                assert_eq!(&a.severity, severity, "{id}");
            }
        }
        for (id, (state, severity, _)) in want.iter().step_by(89) {
            let s = sink.stored(source, id);
            assert_eq!(&s.alert.vendor_status, state, "{id}");
            assert_eq!(&s.alert.severity, severity, "{id}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn syncs_5000_alerts_through_faults() {
        let handle = start(5000, Faults::standard()).await;
        let mut cfg = source_config(&handle);
        cfg.page_size = Some(100);
        let mut client = connect(&cfg).expect("client");
        let mut sink = StoreSink::new();
        let started = std::time::Instant::now();
        client
            .fetch(
                Window {
                    since: None,
                    until: now_ms(),
                    filter: None,
                },
                &mut sink,
            )
            .await
            .expect("sync through faults");
        eprintln!(
            "5,000 Compute findings through faults in {:?} (store import {:?}, {} pages)",
            started.elapsed(),
            sink.import_time,
            sink.pages
        );
        assert_eq!(sink.delivered.len(), 5000);
        assert_eq!(sink.duplicates(), 0);
        assert_store_equals_world(&handle, &sink, &cfg.name).await;

        let c = &handle.state.counters;
        assert_eq!(counter(&c.early_requests), 0, "requests before Retry-After");
        assert!(counter(&c.rate_limited) >= 3, "429s served");
        assert_eq!(counter(&c.expiries), 1);
        assert_eq!(
            counter(&c.logins),
            2,
            "one login, one re-login after expiry"
        );
        assert_eq!(counter(&c.unauthorized), 1);
        assert_eq!(counter(&c.server_errors), 3);
        assert_eq!(counter(&c.truncated), 1);
        assert_eq!(Stats::get(&client.stats().reauths), 1);
        // Every page was answered once, plus 3 × 429, 1 × 401, 3 × 503 and 1 truncated body.
        assert_eq!(counter(&c.data_requests), sink.pages as u64 + 3 + 1 + 3 + 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn incremental_sync_fetches_only_the_window_of_incidents() {
        let handle = start(5000, Faults::none()).await;
        let mut cfg = source_config(&handle);
        cfg.concurrency = 4;
        let mut client = connect(&cfg).expect("client");
        let mut sink = StoreSink::new();
        client
            .fetch(
                Window {
                    since: None,
                    until: now_ms(),
                    filter: None,
                },
                &mut sink,
            )
            .await
            .expect("first sync");
        assert_eq!(sink.delivered.len(), 5000);
        assert_eq!(sink.duplicates(), 0);
        let watermark = sink.max_updated.expect("a watermark");

        tokio::time::sleep(Duration::from_millis(5)).await;
        handle.evolve(500, 100).await;
        sink.reset_counts();
        let since = watermark - cfg.overlap.as_millis() as i64;
        client
            .fetch(
                Window {
                    since: Some(since),
                    until: now_ms(),
                    filter: None,
                },
                &mut sink,
            )
            .await
            .expect("incremental sync");
        assert_eq!(sink.duplicates(), 0);
        let (incidents_total, incidents_in_window, scan_total) = {
            let world = handle.state.world.read().await;
            let runtime = || {
                world
                    .findings_for(V)
                    .filter(|f| f.rule.category == RuleCategory::Runtime)
            };
            (
                runtime().count(),
                runtime().filter(|f| f.updated_ms >= since).count(),
                world
                    .findings_for(V)
                    .filter(|f| f.rule.category != RuleCategory::Runtime)
                    .count(),
            )
        };
        let incidents_served = sink
            .delivered
            .iter()
            .filter(|id| id.starts_with("incident/"))
            .count();
        // Incidents: only the window. Scan results: all of them (Compute has no changed-since
        // filter for them).
        assert_eq!(incidents_served, incidents_in_window);
        assert!(
            incidents_served * 4 < incidents_total,
            "{incidents_served} of {incidents_total} incidents"
        );
        assert_eq!(sink.delivered.len() - incidents_served, scan_total);
        assert_store_equals_world(&handle, &sink, &cfg.name).await;
        assert_eq!(sink.stored_ids(&cfg.name).len(), 5100);
        assert_eq!(counter(&handle.state.counters.early_requests), 0);
    }

    async fn full(client: &mut dyn sitrep::sources::api::SourceClient) -> StoreSink {
        let mut sink = StoreSink::new();
        fetch_all(client, &mut sink).await.expect("fetch");
        sink
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn write_back_acknowledges_incidents_and_says_what_is_unsupported() {
        let handle = start(200, Faults::none()).await;
        let mut cfg = source_config(&handle);
        cfg.options.insert("api_version".into(), "v1".into());
        let mut client = connect(&cfg).expect("client");
        let truth = truth(&handle).await;
        let incident = truth
            .iter()
            .filter(|(id, (state, _, _))| {
                id.starts_with("incident/") && *state == VendorState::Open
            })
            .map(|(id, _)| id.clone())
            .min()
            .expect("an open incident");
        let vuln = truth
            .keys()
            .filter(|id| !id.starts_with("incident/"))
            .min()
            .cloned()
            .expect("a scan-result finding");

        let resolve = WriteBack::SetStatus {
            native_id: incident.clone(),
            status: Status::Resolved {
                reason: "contained".into(),
            },
            note: None,
        };
        assert_eq!(
            client.write_back(&resolve).await.expect("ack"),
            WriteOutcome::Done
        );
        let sink = full(&mut client).await;
        assert_eq!(sink.latest[&incident].vendor_status, VendorState::Resolved);
        assert_eq!(sink.latest[&incident].raw["acknowledged"], true);

        let reopen = WriteBack::SetStatus {
            native_id: incident.clone(),
            status: Status::New,
            note: None,
        };
        assert_eq!(
            client.write_back(&reopen).await.expect("unack"),
            WriteOutcome::Done
        );
        let sink = full(&mut client).await;
        assert_eq!(sink.latest[&incident].vendor_status, VendorState::Open);

        let dismiss = WriteBack::SetStatus {
            native_id: incident.clone(),
            status: Status::Dismissed {
                reason: DismissReason::FalsePositive,
                note: None,
                until: None,
            },
            note: None,
        };
        assert_eq!(
            client.write_back(&dismiss).await.expect("ack"),
            WriteOutcome::Done
        );
        let sink = full(&mut client).await;
        assert_eq!(sink.latest[&incident].vendor_status, VendorState::Resolved);

        // An incident the console does not know: 404.
        let ghost = WriteBack::SetStatus {
            native_id: "incident/000000000000000000000000".into(),
            status: Status::New,
            note: None,
        };
        match client.write_back(&ghost).await {
            Err(ApiError::Http { status: 404, .. }) => {}
            other => panic!("expected a 404, got {other:?}"),
        }

        let unsupported = [
            WriteBack::SetStatus {
                native_id: vuln.clone(),
                status: Status::Resolved {
                    reason: "patched".into(),
                },
                note: None,
            },
            WriteBack::SetStatus {
                native_id: "audit/636a952a5a293a6ea06cbb87".into(),
                status: Status::Dismissed {
                    reason: DismissReason::FalsePositive,
                    note: None,
                    until: None,
                },
                note: None,
            },
            WriteBack::SetStatus {
                native_id: incident.clone(),
                status: Status::Acknowledged,
                note: None,
            },
            WriteBack::SetStatus {
                native_id: incident.clone(),
                status: Status::Snoozed {
                    until: now_ms() + 86_400_000,
                    note: None,
                },
                note: None,
            },
            WriteBack::Comment {
                native_id: incident.clone(),
                text: "seen".into(),
            },
        ];
        let requests = counter(&handle.state.counters.data_requests);
        for action in &unsupported {
            match client.write_back(action).await.expect("no error") {
                WriteOutcome::Unsupported(reason) => assert!(reason.len() > 20, "{reason}"),
                other => panic!("{action:?} should be unsupported, got {other:?}"),
            }
        }
        assert_eq!(
            counter(&handle.state.counters.data_requests),
            requests,
            "unsupported writes send nothing"
        );
        let sink = full(&mut client).await;
        assert_eq!(sink.latest[&incident].vendor_status, VendorState::Resolved);
        assert_eq!(sink.latest[&vuln].vendor_status, VendorState::Open);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn scan_endpoints_are_limited_to_30_requests_per_30_seconds() {
        use reqwest::StatusCode;
        let handle = start(100, Faults::none()).await;
        let cfg = source_config(&handle);
        let http = reqwest::Client::new();
        let (user, pass) = (&handle.env[0].1, &handle.env[1].1);
        let token = http
            .post(format!("{}/api/v34.04/authenticate", handle.base_url))
            .json(&serde_json::json!({ "username": user, "password": pass }))
            .send()
            .await
            .expect("auth")
            .json::<serde_json::Value>()
            .await
            .expect("token")["token"]
            .as_str()
            .expect("a token")
            .to_string();
        let mut statuses = Vec::new();
        for _ in 0..31 {
            let r = http
                .get(format!("{}/api/v34.04/hosts?limit=1", handle.base_url))
                .bearer_auth(&token)
                .send()
                .await
                .expect("hosts");
            statuses.push((r.status(), r.headers().get("retry-after").is_some()));
        }
        assert!(statuses[..30].iter().all(|(s, _)| *s == StatusCode::OK));
        assert_eq!(statuses[30], (StatusCode::TOO_MANY_REQUESTS, true));
        // Another scan endpoint has its own budget, and the incidents list has none.
        let r = http
            .get(format!("{}/api/v34.04/images?limit=1", handle.base_url))
            .bearer_auth(&token)
            .send()
            .await
            .expect("images");
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().get("total-count").is_some());
        let _ = cfg;
    }

    /// One `sync::run` of `cfg` into `store`, as `sitrep sync` does it.
    async fn run_once(
        cfg: &sitrep::config::SourceConfig,
        store: &std::sync::Arc<std::sync::Mutex<sitrep::store::Store>>,
    ) -> sitrep::sources::sync::RunReport {
        sitrep::sources::sync::run(
            sitrep::vendors::connect,
            cfg,
            store,
            false,
            now_ms(),
            std::sync::Arc::new(|_: &sitrep::sources::sync::Progress| {}),
        )
        .await
    }

    /// Compute drops a fixed vulnerability (or a deleted workload's findings) from its scan
    /// results instead of closing it: a sync that read a scan list in full marks what the list no
    /// longer holds resolved by the vendor, with a history entry, and leaves everything else
    /// alone; a finding that comes back (a rollback) is open again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn fixed_findings_resolve_and_reintroduced_ones_reopen() {
        use sitrep::vendors::prisma_compute::sim::server::{fix_findings, reintroduce_findings};
        let handle = start(2000, Faults::none()).await;
        let cfg = source_config(&handle);
        let dir = tempfile::tempdir().expect("tempdir");
        let store = std::sync::Arc::new(std::sync::Mutex::new(
            sitrep::store::Store::open(&dir.path().join("s.db")).expect("store"),
        ));
        let first = run_once(&cfg, &store).await;
        assert!(first.error.is_none(), "{:?}", first.error);
        assert_eq!((first.stats.new, first.stats.vanished), (2000, 0));

        let fixed: HashSet<String> = fix_findings(&handle.state, 60).await.into_iter().collect();
        assert!(fixed.len() >= 50, "{} fixed", fixed.len());
        let second = run_once(&cfg, &store).await;
        assert!(second.error.is_none(), "{:?}", second.error);
        assert_eq!(second.stats.vanished, fixed.len());
        assert!(
            second
                .line()
                .contains(&format!("{} resolved (gone from the vendor)", fixed.len())),
            "{}",
            second.line()
        );
        // Scan findings the store holds as closed by the vendor (the queue's `vstate:` filter).
        let closed = sitrep::triage::query::parse("vstate:resolved").expect("parse");
        let resolved_ids = |store: &sitrep::store::Store| -> HashSet<String> {
            let rows = store
                .list(&sitrep::store::ListRequest {
                    filter: Some(&closed),
                    include_closed: true,
                    limit: 100_000,
                    now_ms: now_ms(),
                    ..Default::default()
                })
                .expect("list");
            rows.into_iter()
                .filter_map(|r| {
                    let native = r.id.strip_prefix(&format!("{}:", cfg.name))?.to_string();
                    (!native.starts_with("incident/")).then_some(native)
                })
                .collect()
        };
        // The newest vendor-state entry of a stored finding (a status sitrep set after it,
        // when the finding was still new here, is checked below).
        let last_entry = |store: &sitrep::store::Store, native: &str| {
            let a = store
                .get(&format!("{}:{native}", cfg.name))
                .expect("get")
                .expect("kept, not deleted");
            let last = a
                .history
                .iter()
                .rev()
                .find(|h| h.kind == "vendor_update")
                .cloned()
                .expect("a vendor-state entry");
            (a.alert.vendor_status, last)
        };
        let status_of = |store: &sitrep::store::Store, native: &str| {
            let a = store
                .get(&format!("{}:{native}", cfg.name))
                .expect("get")
                .expect("stored");
            a.status.kind().as_str()
        };
        {
            let s = store.lock().expect("lock");
            assert_eq!(
                resolved_ids(&s),
                fixed,
                "exactly the fixed findings are resolved"
            );
            let (_, last) = last_entry(&s, fixed.iter().next().expect("one"));
            assert_eq!(
                (last.kind.as_str(), last.to_status.as_deref()),
                ("vendor_update", Some("resolved"))
            );
            assert!(
                last.note
                    .as_deref()
                    .is_some_and(|n| n.contains("no longer listed")),
                "{last:?}"
            );
            // Nobody had decided on them: their status followed the vendor's (issue 23).
            for native in &fixed {
                assert_eq!(status_of(&s, native), "resolved", "{native}");
            }
        }

        // A third sync with nothing changed marks nothing again.
        let third = run_once(&cfg, &store).await;
        assert_eq!((third.stats.vanished, third.stats.updated), (0, 0));

        let back: HashSet<String> = reintroduce_findings(&handle.state, 20)
            .await
            .into_iter()
            .collect();
        assert!(!back.is_empty());
        let fourth = run_once(&cfg, &store).await;
        assert!(fourth.error.is_none(), "{:?}", fourth.error);
        assert!(fourth.stats.updated >= back.len(), "{:?}", fourth.stats);
        let s = store.lock().expect("lock");
        let still: HashSet<String> = fixed.difference(&back).cloned().collect();
        let now_resolved = resolved_ids(&s);
        assert_eq!(
            (
                now_resolved.difference(&still).collect::<Vec<_>>(),
                still.difference(&now_resolved).collect::<Vec<_>>()
            ),
            (vec![], vec![]),
            "the reintroduced findings are open again, the others still resolved"
        );
        let (state, last) = last_entry(&s, back.iter().next().expect("one"));
        assert_eq!(state, VendorState::Open);
        assert_eq!(
            (last.from_status.as_deref(), last.to_status.as_deref()),
            (Some("resolved"), Some("open"))
        );
        // …and back in the queue as new.
        for native in &back {
            assert_eq!(status_of(&s, native), "new", "{native}");
        }
    }

    /// Records the listings a client announces, and removes whole image scan results from the
    /// simulator after the first page of images (as a deleted image would between two pages).
    struct ShiftingSink {
        state: std::sync::Arc<sitrep::sim::server::SimState>,
        begun: Vec<&'static str>,
        complete: Vec<&'static str>,
        removed: bool,
    }

    impl sitrep::sources::api::PageSink for ShiftingSink {
        fn page(&mut self, alerts: Vec<sitrep::domain::Alert>) -> Result<(), ApiError> {
            if !self.removed && alerts.iter().any(|a| a.native_id.starts_with("image/")) {
                self.removed = true;
                let state = self.state.clone();
                tokio::task::block_in_place(|| {
                    tokio::runtime::Handle::current().block_on(async {
                        let mut world = state.world.write().await;
                        let mut rng = sitrep::rng::Rng::new(3);
                        // Every vulnerability of the first few workloads: their images vanish.
                        let workloads: Vec<usize> = world
                            .findings_for(V)
                            .filter(|f| f.rule.category == RuleCategory::Vulnerability)
                            .map(|f| f.resource)
                            .filter(|&r| {
                                world.resources[r].kind
                                    == sitrep::sim::world::ResourceKind::Workload
                            })
                            .take(3)
                            .collect();
                        world.retire(&mut rng, V, usize::MAX, |f| {
                            f.rule.category == RuleCategory::Vulnerability
                                && workloads.contains(&f.resource)
                        });
                    })
                });
            }
            Ok(())
        }

        fn listing_begins(&mut self, prefix: &'static str) {
            self.begun.push(prefix);
        }

        fn listing_complete(&mut self, prefix: &'static str) {
            self.complete.push(prefix);
        }
    }

    /// Compute pages scan results by offset: when the list shrinks while it is paged, an object
    /// slides onto a page already read and is skipped. Such a listing (its Total-Count changed)
    /// is not taken as complete, so nothing it missed is marked resolved; the others are.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_scan_list_that_changes_while_paged_is_not_complete() {
        let handle = start(2000, Faults::none()).await;
        let mut cfg = source_config(&handle);
        cfg.page_size = Some(20);
        cfg.concurrency = 1;
        let mut client = connect(&cfg).expect("client");
        let mut sink = ShiftingSink {
            state: handle.state.clone(),
            begun: Vec::new(),
            complete: Vec::new(),
            removed: false,
        };
        fetch_all(&mut client, &mut sink).await.expect("sync");
        assert!(sink.removed, "the images list had a first page");
        assert_eq!(sink.begun, ["image/", "container/", "host/", "function/"]);
        assert_eq!(sink.complete, ["container/", "host/", "function/"]);
    }

    /// An unknown API version is a configuration error, found before anything is sent (the
    /// wrong-password case is `shared::wrong_credentials_fail_cleanly`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unknown_api_version_is_a_config_error() {
        let handle = start(50, Faults::none()).await;
        let cfg = source_config(&handle);
        let mut odd = cfg.clone();
        odd.options.insert("api_version".into(), "latest".into());
        match connect(&odd) {
            Err(ApiError::Config(m)) => assert!(m.contains("api_version"), "{m}"),
            Err(e) => panic!("expected a config error, got {e:?}"),
            Ok(_) => panic!("expected a config error"),
        }
    }
}

mod wiz {
    //! Wiz client against its loopback simulator: 5,000 issues through faults, an incremental
    //! sync, refused credentials, a page that stays malformed, and write-back.

    use super::wizlw as helper;
    use std::time::Instant;

    use helper::{StoreSink, assert_store_equals_truth, config, truth};
    use sitrep::domain::{DismissReason, Status, Vendor, VendorState};
    use sitrep::sim::server::{Counters, Faults, SimOptions};
    use sitrep::sim::world::SimStatus;
    use sitrep::sources::api::{ApiError, Stats, Window, WriteBack, WriteOutcome};
    use sitrep::vendors::connect;
    use sitrep::vendors::sim::start;

    fn wiz_status(s: SimStatus) -> VendorState {
        match s {
            SimStatus::Open => VendorState::Open,
            SimStatus::InProgress => VendorState::InProgress,
            SimStatus::Resolved => VendorState::Resolved,
            SimStatus::Dismissed => VendorState::Dismissed,
        }
    }

    fn now_ms() -> i64 {
        chrono::Utc::now().timestamp_millis()
    }

    fn everything() -> Window {
        Window {
            since: None,
            until: now_ms(),
            filter: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn syncs_5000_through_faults_then_incrementally() {
        // The standard plan's GraphQL error (request 16) falls inside its 5xx burst (14..16), so
        // one more is added where it is served.
        let mut faults = Faults::standard();
        faults.graphql_error_at.push(22);
        let h = start(
            Vendor::Wiz,
            SimOptions {
                alerts: 5000,
                faults,
                ..SimOptions::default()
            },
        )
        .await
        .expect("sim");
        let mut cfg = config(&h);
        cfg.page_size = Some(100);
        let mut client = connect(&cfg).expect("client");
        let mut sink = StoreSink::new();
        let t = Instant::now();
        client
            .fetch(everything(), &mut sink)
            .await
            .expect("full sync");
        let elapsed = t.elapsed();

        let c = &h.state.counters;
        let checked =
            assert_store_equals_truth(&sink, &h, &cfg.name, Vendor::Wiz, wiz_status).await;
        assert_eq!(checked, 5000);
        assert_eq!(sink.delivered, 5000, "every node delivered once");
        assert_eq!(sink.duplicates, 0);
        assert_eq!(
            Counters::get(&c.early_requests),
            0,
            "no request before Retry-After allowed it"
        );
        assert!(Counters::get(&c.rate_limited) >= 3);
        assert_eq!(Counters::get(&c.expiries), 1);
        assert_eq!(
            Counters::get(&c.logins),
            2,
            "one re-login for the one expiry"
        );
        assert_eq!(Stats::get(&client.stats().reauths), 1);
        assert_eq!(
            Counters::get(&c.server_errors),
            3,
            "the 5xx burst was served and retried"
        );
        assert_eq!(
            Counters::get(&c.truncated),
            1,
            "the truncated page was served and re-fetched"
        );
        assert_eq!(
            Counters::get(&c.graphql_errors),
            1,
            "the GraphQL error was served and retried"
        );
        // 3 waits after 429s, 3 after 503s, the truncated page, the GraphQL error.
        assert!(Stats::get(&client.stats().retries) >= 8);
        // 5000 nodes / 100 a page, two connections, plus the retried requests.
        let data = Counters::get(&c.data_requests);
        eprintln!("wiz full sync: {data} data requests, {elapsed:?}");
        assert!((51..=70).contains(&data), "data requests: {data}");

        // Incremental: 10% changed, 100 added; ask only for what changed since the watermark.
        h.evolve(500, 100).await;
        let before = Counters::get(&c.data_requests);
        let since = sink.max_updated.expect("watermark") - cfg.overlap.as_millis() as i64;
        sink.new_run();
        client
            .fetch(
                Window {
                    since: Some(since),
                    until: now_ms(),
                    filter: None,
                },
                &mut sink,
            )
            .await
            .expect("incremental sync");
        let checked =
            assert_store_equals_truth(&sink, &h, &cfg.name, Vendor::Wiz, wiz_status).await;
        assert_eq!(checked, 5100);
        // The changed and added ones (a changed one may be picked twice), plus what was already
        // inside the overlap: far fewer than 5,000.
        assert!(
            (550..=1200).contains(&sink.delivered),
            "incremental delivered {}",
            sink.delivered
        );
        let requests = Counters::get(&c.data_requests) - before;
        eprintln!(
            "wiz incremental: {} delivered, {requests} data requests",
            sink.delivered
        );
        assert!(requests <= 16, "incremental requests: {requests}");
        h.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_graphql_validation_error_fails_with_its_message() {
        let h = start(Vendor::Wiz, SimOptions::default())
            .await
            .expect("sim");
        let cfg = config(&h);
        let mut client = connect(&cfg).expect("client");
        let err = client
            .write_back(&WriteBack::Comment {
                native_id: "00000000-0000-4000-8000-000000000000".into(),
                text: "hello".into(),
            })
            .await
            .expect_err("unknown issue");
        assert!(matches!(err, ApiError::Vendor { .. }), "{err:?}");
        assert!(err.to_string().contains("Issue not found"), "{err}");
        // Not retried: one request.
        assert_eq!(Counters::get(&h.state.counters.data_requests), 1);
        h.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn write_back_changes_the_simulator() {
        let h = start(
            Vendor::Wiz,
            SimOptions {
                alerts: 300,
                ..SimOptions::default()
            },
        )
        .await
        .expect("sim");
        let cfg = config(&h);
        let mut client = connect(&cfg).expect("client");
        let all = truth(&h, Vendor::Wiz).await;
        let issues: Vec<&(String, sitrep::sim::world::SimFinding)> = all
            .iter()
            .filter(|(_, f)| {
                f.cve.is_none()
                    || f.rule.category != sitrep::sim::world::RuleCategory::Vulnerability
            })
            .collect();
        let open: Vec<&String> = issues
            .iter()
            .filter(|(_, f)| f.status == SimStatus::Open)
            .map(|(id, _)| id)
            .take(3)
            .collect();
        let (a, b, c) = (open[0].clone(), open[1].clone(), open[2].clone());
        let done = |o: WriteOutcome| assert_eq!(o, WriteOutcome::Done);

        done(
            client
                .write_back(&WriteBack::SetStatus {
                    native_id: a.clone(),
                    status: Status::InProgress,
                    note: Some("looking".into()),
                })
                .await
                .expect("in progress"),
        );
        done(
            client
                .write_back(&WriteBack::SetStatus {
                    native_id: b.clone(),
                    status: Status::Dismissed {
                        reason: DismissReason::FalsePositive,
                        note: Some("test account".into()),
                        until: None,
                    },
                    note: None,
                })
                .await
                .expect("reject"),
        );
        done(
            client
                .write_back(&WriteBack::Comment {
                    native_id: c.clone(),
                    text: "owner paged".into(),
                })
                .await
                .expect("note"),
        );

        let mut sink = StoreSink::new();
        client
            .fetch(everything(), &mut sink)
            .await
            .expect("refetch");
        let get = |id: &str| {
            sink.store
                .get(&format!("{}:{id}", cfg.name))
                .expect("get")
                .expect("present")
        };
        assert_eq!(get(&a).alert.vendor_status, VendorState::InProgress);
        assert_eq!(get(&b).alert.vendor_status, VendorState::Dismissed);
        let notes = |id: &str| get(id).alert.raw["notes"].to_string();
        assert!(notes(&a).contains("looking"));
        assert!(notes(&b).contains("Dismissed (false_positive): test account"));
        assert!(notes(&c).contains("owner paged"));

        // Reopen.
        done(
            client
                .write_back(&WriteBack::SetStatus {
                    native_id: b.clone(),
                    status: Status::New,
                    note: None,
                })
                .await
                .expect("reopen"),
        );
        let world = h.state.world.read().await;
        let f = world
            .findings_for(Vendor::Wiz)
            .find(|f| sitrep::vendors::wiz::sim::emit::native_id(&world, f) == b)
            .expect("finding");
        assert_eq!(f.status, SimStatus::Open);
        drop(world);

        for status in [
            Status::Resolved {
                reason: "patched".into(),
            },
            Status::Acknowledged,
            Status::Snoozed {
                until: now_ms() + 86_400_000,
                note: None,
            },
            Status::Dismissed {
                reason: DismissReason::AcceptedRisk,
                note: None,
                until: Some(now_ms() + 86_400_000),
            },
        ] {
            let out = client
                .write_back(&WriteBack::SetStatus {
                    native_id: a.clone(),
                    status: status.clone(),
                    note: None,
                })
                .await
                .expect("outcome");
            assert!(
                matches!(out, WriteOutcome::Unsupported(r) if !r.is_empty()),
                "{status:?} → {out:?}"
            );
        }
        h.stop().await;
    }

    /// A GraphQL server whose `VulnerabilityFindingFilters` lacks `updatedAt`, answering in
    /// words nothing in sitrep matches: the client reports the filter candidate refused
    /// (typed), and the next candidate reads issues by `statusChangedAt`, ordered by it, with
    /// vulnerability findings unfiltered. Before: the fallback keyed on the simulator's own
    /// wording, and issues were filtered by the unconfirmed `updatedAt`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_refused_filter_is_reported_typed_whatever_its_wording() {
        use axum::{Json, Router, routing::post};
        use serde_json::{Value, json};
        use std::sync::{Arc, Mutex};

        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let log = seen.clone();
        let app = Router::new()
        .route(
            "/oauth/token",
            post(|| async { Json(json!({"access_token": "t", "expires_in": 3600, "token_type": "Bearer"})) }),
        )
        .route(
            "/graphql",
            post(move |Json(req): Json<Value>| {
                let log = log.clone();
                async move {
                    let q = req["query"].as_str().unwrap_or("");
                    let root = if q.contains("vulnerabilityFindings(") { "vulnerabilityFindings" } else { "issues" };
                    let keys: Vec<String> = req["variables"]["filterBy"]
                        .as_object()
                        .map(|o| o.keys().cloned().collect())
                        .unwrap_or_default();
                    let order = req["variables"]["orderBy"]["field"].as_str().unwrap_or("-").to_string();
                    log.lock().expect("lock").push(format!("{root}:{}:{order}", keys.join(",")));
                    if root == "vulnerabilityFindings" && !keys.is_empty() {
                        return Json(json!({"data": null, "errors": [{
                            "message": "Schema check: input rejected (code 7)",
                            "extensions": {"code": "VALIDATION"}}]}));
                    }
                    Json(json!({"data": {root: {"nodes": [], "pageInfo": {"hasNextPage": false, "endCursor": null}}}}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let toml = sitrep::vendors::wiz::sim::server::source_toml("wiz-old", &base);
        let mut cfg = sitrep::config::Config::from_text(None, &toml)
            .expect("toml")
            .sources
            .remove(0);
        for k in ["client_id", "client_secret"] {
            cfg.credentials.insert(
                k.into(),
                sitrep::config::CredentialRef::Literal(sitrep::config::Secret::new("x")),
            );
        }
        let mut client = connect(&cfg).expect("client");
        let filters = client.incremental_filters();
        assert_eq!(
            filters,
            [
                sitrep::vendors::wiz::client::BY_STATUS_CHANGE,
                sitrep::vendors::wiz::client::ISSUES_ONLY
            ]
        );
        let mut sink = StoreSink::new();
        let since = now_ms() - 3_600_000;
        let err = client
            .fetch(Window::since(since, now_ms(), filters[0]), &mut sink)
            .await
            .expect_err("the vulnerability filter is refused");
        match &err {
            ApiError::FilterRefused { filter, detail, .. } => {
                assert_eq!(filter, filters[0]);
                assert!(detail.contains("input rejected"), "{detail}");
            }
            other => panic!("not typed as a refused filter: {other:?}"),
        }
        client
            .fetch(Window::since(since, now_ms(), filters[1]), &mut sink)
            .await
            .expect("the issues-only filter works");
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(
            seen,
            [
                "issues:statusChangedAt:STATUS_CHANGED_AT",
                "vulnerabilityFindings:updatedAt:-",
                "issues:statusChangedAt:STATUS_CHANGED_AT",
                "vulnerabilityFindings::-",
            ]
        );
        server.abort();
    }
}

mod lacework {
    //! Lacework client against its loopback simulator: 5,000 alerts through faults (in 7-day
    //! windows, with Details enrichment), an incremental sync, refused credentials, a page that
    //! stays malformed, and write-back.

    use super::wizlw as helper;
    use std::time::Instant;

    use helper::{StoreSink, assert_store_equals_truth, config, truth};
    use serde_json::Value;
    use sitrep::domain::{DismissReason, Status, Vendor, VendorState};
    use sitrep::sim::server::{Counters, Faults, SimOptions};
    use sitrep::sim::world::SimStatus;
    use sitrep::sources::api::{Stats, Window, WriteBack, WriteOutcome};
    use sitrep::vendors::connect;
    use sitrep::vendors::sim::start;

    fn lw_status(s: SimStatus) -> VendorState {
        match s {
            SimStatus::Open | SimStatus::InProgress => VendorState::Open,
            SimStatus::Resolved | SimStatus::Dismissed => VendorState::Resolved,
        }
    }

    fn now_ms() -> i64 {
        chrono::Utc::now().timestamp_millis()
    }

    fn everything() -> Window {
        Window {
            since: None,
            until: now_ms(),
            filter: None,
        }
    }

    fn with_resource(
        sink: &StoreSink,
        source: &str,
        ids: &[(String, sitrep::sim::world::SimFinding)],
    ) -> usize {
        ids.iter()
            .filter(|(id, _)| {
                sink.store
                    .get(&format!("{source}:{id}"))
                    .ok()
                    .flatten()
                    .is_some_and(|s| s.alert.resource.id.is_some())
            })
            .count()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn syncs_5000_through_faults_then_incrementally() {
        let h = start(
            Vendor::Lacework,
            SimOptions {
                alerts: 5000,
                faults: Faults::standard(),
                ..SimOptions::default()
            },
        )
        .await
        .expect("sim");
        let mut cfg = config(&h);
        cfg.options.insert("details_limit".into(), "300".into());
        let mut client = connect(&cfg).expect("client");
        let mut sink = StoreSink::new();
        let t = Instant::now();
        client
            .fetch(everything(), &mut sink)
            .await
            .expect("full sync");
        let elapsed = t.elapsed();

        let c = &h.state.counters;
        let checked =
            assert_store_equals_truth(&sink, &h, &cfg.name, Vendor::Lacework, lw_status).await;
        assert_eq!(checked, 5000);
        assert_eq!(
            sink.delivered, 5000,
            "alerts two windows share are delivered once"
        );
        assert_eq!(sink.duplicates, 0);
        assert_eq!(Counters::get(&c.early_requests), 0);
        assert!(Counters::get(&c.rate_limited) >= 3);
        assert_eq!(Counters::get(&c.expiries), 1);
        assert_eq!(
            Counters::get(&c.logins),
            2,
            "one re-login for the one expiry"
        );
        assert_eq!(Stats::get(&client.stats().reauths), 1);
        assert_eq!(Counters::get(&c.server_errors), 3);
        assert_eq!(Counters::get(&c.truncated), 1);
        // Details: exactly the per-run budget of alerts carry their entityMap's resource.
        let all = truth(&h, Vendor::Lacework).await;
        assert_eq!(with_resource(&sink, &cfg.name, &all), 300);
        let data = Counters::get(&c.data_requests);
        eprintln!(
            "lacework full sync: {data} data requests ({} pages), {elapsed:?}",
            sink.pages
        );
        // 92 days in 14 windows, a page or two each, 300 details, the retried requests.
        assert!((314..=360).contains(&data), "data requests: {data}");

        h.evolve(500, 100).await;
        let before = Counters::get(&c.data_requests);
        let since = sink.max_updated.expect("watermark") - cfg.overlap.as_millis() as i64;
        sink.new_run();
        client
            .fetch(
                Window {
                    since: Some(since),
                    until: now_ms(),
                    filter: None,
                },
                &mut sink,
            )
            .await
            .expect("incremental sync");
        let checked =
            assert_store_equals_truth(&sink, &h, &cfg.name, Vendor::Lacework, lw_status).await;
        assert_eq!(checked, 5100);
        let requests = Counters::get(&c.data_requests) - before;
        eprintln!(
            "lacework incremental: {} delivered, {requests} data requests",
            sink.delivered
        );
        assert!(
            (550..=1200).contains(&sink.delivered),
            "incremental delivered {}",
            sink.delivered
        );
        // One window, a page or three, and the details budget.
        assert!(requests <= 3 + 300, "incremental requests: {requests}");
        h.stop().await;
    }

    /// A token and a GET, as a plain HTTP client would do it.
    async fn timeline(h: &sitrep::sim::server::SimHandle, id: &str) -> Value {
        let http = reqwest::Client::new();
        let tok: Value = http
            .post(format!("{}/api/v2/access/tokens", h.base_url))
            .header("X-LW-UAKS", &h.env[1].1)
            .json(&serde_json::json!({"keyId": h.env[0].1, "expiryTime": 3600}))
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("json");
        http.get(format!("{}/api/v2/Alerts/{id}?scope=Timeline", h.base_url))
            .bearer_auth(tok["token"].as_str().expect("token"))
            .send()
            .await
            .expect("timeline")
            .json()
            .await
            .expect("json")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn write_back_changes_the_simulator() {
        let h = start(
            Vendor::Lacework,
            SimOptions {
                alerts: 300,
                ..SimOptions::default()
            },
        )
        .await
        .expect("sim");
        let mut cfg = config(&h);
        cfg.options.insert("details".into(), "false".into());
        let mut client = connect(&cfg).expect("client");
        let all = truth(&h, Vendor::Lacework).await;
        let open: Vec<String> = all
            .iter()
            .filter(|(_, f)| f.status == SimStatus::Open)
            .map(|(id, _)| id.clone())
            .take(3)
            .collect();
        let (a, b, c) = (&open[0], &open[1], &open[2]);

        let out = client
            .write_back(&WriteBack::Comment {
                native_id: a.clone(),
                text: "owner paged".into(),
            })
            .await
            .expect("comment");
        assert_eq!(out, WriteOutcome::Done);
        let out = client
            .write_back(&WriteBack::SetStatus {
                native_id: b.clone(),
                status: Status::Dismissed {
                    reason: DismissReason::FalsePositive,
                    note: Some("scanner noise".into()),
                    until: None,
                },
                note: None,
            })
            .await
            .expect("close fp");
        assert_eq!(out, WriteOutcome::Done);
        let out = client
            .write_back(&WriteBack::SetStatus {
                native_id: c.clone(),
                status: Status::Resolved {
                    reason: "rotated the key".into(),
                },
                note: None,
            })
            .await
            .expect("close other");
        assert_eq!(out, WriteOutcome::Done);

        let tl = timeline(&h, a).await.to_string();
        assert!(tl.contains("owner paged"), "{tl}");
        let tl = timeline(&h, b).await.to_string();
        assert!(tl.contains("scanner noise"), "{tl}");
        let tl = timeline(&h, c).await.to_string();
        assert!(tl.contains("Resolved: rotated the key"), "{tl}");

        let mut sink = StoreSink::new();
        client
            .fetch(everything(), &mut sink)
            .await
            .expect("refetch");
        for id in [b, c] {
            let s = sink
                .store
                .get(&format!("{}:{id}", cfg.name))
                .expect("get")
                .expect("present");
            assert_eq!(s.alert.vendor_status, VendorState::Resolved, "{id} closed");
        }
        let world = h.state.world.read().await;
        let f = world
            .findings_for(Vendor::Lacework)
            .find(|f| sitrep::vendors::lacework::sim::emit::native_id(&world, f) == *b)
            .expect("finding");
        assert_eq!(f.status, SimStatus::Dismissed);
        drop(world);

        for status in [
            Status::New,
            Status::InProgress,
            Status::Acknowledged,
            Status::Snoozed {
                until: now_ms() + 86_400_000,
                note: None,
            },
            Status::Dismissed {
                reason: DismissReason::AcceptedRisk,
                note: None,
                until: Some(now_ms() + 86_400_000),
            },
        ] {
            let out = client
                .write_back(&WriteBack::SetStatus {
                    native_id: a.clone(),
                    status: status.clone(),
                    note: None,
                })
                .await
                .expect("outcome");
            assert!(
                matches!(out, WriteOutcome::Unsupported(r) if !r.is_empty()),
                "{status:?} → {out:?}"
            );
        }
        h.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_simulator_enforces_the_window_rules() {
        let h = start(Vendor::Lacework, SimOptions::default())
            .await
            .expect("sim");
        let http = reqwest::Client::new();
        let tok: Value = http
            .post(format!("{}/api/v2/access/tokens", h.base_url))
            .header("X-LW-UAKS", &h.env[1].1)
            .json(&serde_json::json!({"keyId": h.env[0].1, "expiryTime": 3600}))
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("json");
        let tok = tok["token"].as_str().expect("token").to_string();
        let get = |q: String| {
            let http = http.clone();
            let tok = tok.clone();
            let url = format!("{}/api/v2/Alerts?{q}", h.base_url);
            async move {
                let r = http.get(url).bearer_auth(tok).send().await.expect("send");
                (r.status().as_u16(), r.json::<Value>().await.expect("json"))
            }
        };
        let t = |ms: i64| {
            chrono::DateTime::from_timestamp_millis(ms)
                .expect("time")
                .format("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string()
        };
        let now = now_ms();
        let day = 86_400_000;
        let (s, body) = get(format!("startTime={}&endTime={}", t(now - 8 * day), t(now))).await;
        assert_eq!(s, 400, "{body}");
        let (s, _) = get(format!(
            "startTime={}&endTime={}",
            t(now - 95 * day),
            t(now - 90 * day)
        ))
        .await;
        assert_eq!(s, 400);
        let (s, body) = get(format!("startTime={}&endTime={}", t(now - 7 * day), t(now))).await;
        assert_eq!(s, 200);
        assert!(
            body["data"]
                .as_array()
                .is_some_and(|d| d.iter().all(|i| i.get("entityMap").is_none()))
        );
        h.stop().await;
    }
}

mod orca {
    //! Orca: the client against its loopback simulator, over real HTTP.

    use super::orcaxdr as helper;
    use helper::{CountSink, StoreSink, assert_store_equals_truth, c, config, now_ms, s};
    use sitrep::domain::{DismissReason, Status, Vendor, VendorState};

    use sitrep::sim::server::{Faults, SimOptions};
    use sitrep::sim::world::SimStatus;
    use sitrep::sources::api::{ApiError, Window, WriteBack, WriteOutcome};
    use sitrep::vendors::connect;
    use sitrep::vendors::sim::start;

    fn everything() -> Window {
        Window {
            since: None,
            until: now_ms(),
            filter: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn syncs_5000_alerts_through_faults() {
        let handle = start(
            Vendor::Orca,
            SimOptions {
                alerts: 5000,
                seed: 11,
                faults: Faults::standard(),
                ..SimOptions::default()
            },
        )
        .await
        .expect("sim");
        let mut cfg = config(&handle);
        cfg.page_size = Some(250);
        let mut client = connect(&cfg).expect("client");
        let mut sink = StoreSink::new();
        client.fetch(everything(), &mut sink).await.expect("fetch");

        // Every alert exactly once, and the store equals the simulator.
        assert_eq!(sink.received.len(), 5000, "alerts delivered");
        assert_eq!(sink.unique(), 5000, "no alert delivered twice");
        assert_eq!(sink.pages, 20, "5000 / 250 pages");
        let n = assert_store_equals_truth(&sink.store, &cfg.name, &handle, Vendor::Orca).await;
        assert_eq!(n, 5000);

        let k = &handle.state.counters;
        assert_eq!(
            c(&k.early_requests),
            0,
            "requests before Retry-After allowed"
        );
        assert!(
            c(&k.rate_limited) >= 3,
            "429s served: {}",
            c(&k.rate_limited)
        );
        assert_eq!(c(&k.server_errors), 3, "the 5xx burst was served");
        assert_eq!(c(&k.truncated), 1, "the truncated page was served");
        // A static token has no login: the expiry fault is one refused request, replayed once.
        assert_eq!(c(&k.unauthorized), 1);
        assert_eq!(c(&k.logins), 0);
        let st = client.stats();
        assert_eq!(s(&st.reauths), 1, "one replay after the 401");
        assert_eq!(s(&st.rate_limited), 3);
        // 3 waits after 429s, 3 after 503s, 1 re-fetch of the truncated page.
        assert!(s(&st.retries) >= 7, "retries: {}", s(&st.retries));
        // 20 pages + 3 × 429 + 3 × 503 + 1 truncated + 1 refused.
        assert_eq!(c(&k.data_requests), 28);
        handle.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn incremental_sync_asks_only_for_the_window() {
        let handle = start(
            Vendor::Orca,
            SimOptions {
                alerts: 5000,
                seed: 12,
                ..SimOptions::default()
            },
        )
        .await
        .expect("sim");
        let cfg = config(&handle);
        let mut client = connect(&cfg).expect("client");
        let mut sink = StoreSink::new();
        client.fetch(everything(), &mut sink).await.expect("full");
        assert_eq!(sink.unique(), 5000);
        let watermark = sink.max_updated.expect("watermark");

        handle.evolve(500, 100).await;
        sink.reset_counts();
        let before = c(&handle.state.counters.data_requests);
        let since = watermark - cfg.overlap.as_millis() as i64;
        client
            .fetch(
                Window {
                    since: Some(since),
                    until: now_ms(),
                    filter: None,
                },
                &mut sink,
            )
            .await
            .expect("incremental");
        let requests = c(&handle.state.counters.data_requests) - before;
        // 500 changes (some alerts drawn twice) + 100 new + what changed within the overlap.
        assert!(
            (550..1500).contains(&sink.received.len()),
            "the window held {} alerts",
            sink.received.len()
        );
        assert!(requests <= 3, "{requests} requests for the window");
        let n = assert_store_equals_truth(&sink.store, &cfg.name, &handle, Vendor::Orca).await;
        assert_eq!(n, 5100);
        handle.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn status_write_back_changes_the_world_and_the_rest_is_unsupported() {
        let handle = start(
            Vendor::Orca,
            SimOptions {
                alerts: 300,
                ..SimOptions::default()
            },
        )
        .await
        .expect("sim");
        let cfg = config(&handle);
        let mut client = connect(&cfg).expect("client");
        let ids: Vec<String> = {
            let world = handle.state.world.read().await;
            world
                .findings_for(Vendor::Orca)
                .filter(|f| f.status == SimStatus::Open)
                .take(4)
                .map(|f| sitrep::vendors::orca::sim::emit::native_id(&world, f))
                .collect()
        };
        let writes = [
            (
                Status::InProgress,
                VendorState::InProgress,
                SimStatus::InProgress,
            ),
            (
                Status::Resolved {
                    reason: "patched".into(),
                },
                VendorState::Resolved,
                SimStatus::Resolved,
            ),
            (
                Status::Dismissed {
                    reason: DismissReason::FalsePositive,
                    note: Some("scanner noise".into()),
                    until: None,
                },
                VendorState::Dismissed,
                SimStatus::Dismissed,
            ),
            (Status::New, VendorState::Open, SimStatus::Open),
        ];
        // The last id goes open → in progress → open, to show a reopen.
        let mut plan: Vec<(String, Status)> = writes
            .iter()
            .take(3)
            .zip(&ids)
            .map(|((st, _, _), id)| (id.clone(), st.clone()))
            .collect();
        plan.push((ids[3].clone(), Status::InProgress));
        plan.push((ids[3].clone(), Status::New));
        for (id, status) in &plan {
            let out = client
                .write_back(&WriteBack::SetStatus {
                    native_id: id.clone(),
                    status: status.clone(),
                    note: None,
                })
                .await
                .expect("write");
            assert_eq!(out, WriteOutcome::Done, "{id} {status:?}");
        }
        let mut sink = StoreSink::new();
        client
            .fetch(everything(), &mut sink)
            .await
            .expect("refetch");
        let stored = helper::stored(&sink.store, &cfg.name);
        for (i, (_, want_state, want_sim)) in writes.iter().enumerate() {
            assert_eq!(&stored[&ids[i]].0, want_state, "{}", ids[i]);
            let world = handle.state.world.read().await;
            let f = world
                .findings_for(Vendor::Orca)
                .find(|f| sitrep::vendors::orca::sim::emit::native_id(&world, f) == ids[i])
                .expect("finding");
            assert_eq!(f.status, *want_sim);
        }

        let unsupported = [
            WriteBack::Comment {
                native_id: ids[0].clone(),
                text: "looked at it".into(),
            },
            WriteBack::SetStatus {
                native_id: ids[0].clone(),
                status: Status::Snoozed {
                    until: now_ms() + 86_400_000,
                    note: None,
                },
                note: None,
            },
            WriteBack::SetStatus {
                native_id: ids[0].clone(),
                status: Status::Acknowledged,
                note: None,
            },
        ];
        let before = c(&handle.state.counters.data_requests);
        for w in &unsupported {
            match client.write_back(w).await.expect("answer") {
                WriteOutcome::Unsupported(reason) => assert!(reason.contains("Orca"), "{reason}"),
                other => panic!("{w:?} gave {other:?}"),
            }
        }
        assert_eq!(
            c(&handle.state.counters.data_requests),
            before,
            "nothing sent"
        );

        // An unknown alert is an error, not a silent success.
        let err = client
            .write_back(&WriteBack::SetStatus {
                native_id: "orca-999999999".into(),
                status: Status::InProgress,
                note: None,
            })
            .await
            .expect_err("unknown alert");
        assert!(matches!(err, ApiError::Http { status: 404, .. }), "{err:?}");
        handle.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_window_over_the_10000_cap_is_split() {
        let handle = start(
            Vendor::Orca,
            SimOptions {
                alerts: 10_600,
                seed: 3,
                ..SimOptions::default()
            },
        )
        .await
        .expect("sim");
        let cfg = config(&handle);
        let mut client = connect(&cfg).expect("client");
        // Paging is the point here: count what arrives instead of storing it (faster).
        let mut sink = CountSink::default();
        client.fetch(everything(), &mut sink).await.expect("fetch");
        let want: std::collections::BTreeSet<String> = {
            let world = handle.state.world.read().await;
            world
                .findings_for(Vendor::Orca)
                .map(|f| sitrep::vendors::orca::sim::emit::native_id(&world, f))
                .collect()
        };
        assert_eq!(sink.unique(), 10_600, "every alert despite the cap");
        assert_eq!(sink.received.len(), 10_600, "each once");
        assert_eq!(sink.ids(), want);
        // More than one query was needed, and none was served past the cap.
        assert!(c(&handle.state.counters.data_requests) > 22);
        handle.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_event_collector_query_endpoint_works_too() {
        let handle = start(
            Vendor::Orca,
            SimOptions {
                alerts: 700,
                ..SimOptions::default()
            },
        )
        .await
        .expect("sim");
        let mut cfg = config(&handle);
        cfg.options.insert("list_endpoint".into(), "query".into());
        cfg.page_size = Some(300);
        let mut client = connect(&cfg).expect("client");
        let mut sink = StoreSink::new();
        client.fetch(everything(), &mut sink).await.expect("fetch");
        assert_eq!(sink.pages, 3);
        let n = assert_store_equals_truth(&sink.store, &cfg.name, &handle, Vendor::Orca).await;
        assert_eq!(n, 700);
        handle.stop().await;
    }
}

mod cortex_xdr {
    //! Cortex XDR: the client against its loopback simulator, over real HTTP.

    use super::orcaxdr as helper;
    use helper::{CountSink, StoreSink, assert_store_equals_truth, c, config, now_ms, s};
    use serde_json::{Value, json};
    use sitrep::config::{CredentialRef, Secret};
    use sitrep::domain::{DismissReason, Status, Vendor, VendorState};
    use sitrep::sim::server::{Faults, SimOptions};
    use sitrep::sim::world::SimStatus;
    use sitrep::sources::api::{ApiError, Window, WriteBack, WriteOutcome};
    use sitrep::vendors::connect;
    use sitrep::vendors::cortex_xdr::sim::server as xdr_sim;
    use sitrep::vendors::sim::start;

    fn everything() -> Window {
        Window {
            since: None,
            until: now_ms(),
            filter: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn syncs_5000_alerts_through_faults() {
        let handle = start(
            Vendor::CortexXdr,
            SimOptions {
                alerts: 5000,
                seed: 21,
                faults: Faults::standard(),
                ..SimOptions::default()
            },
        )
        .await
        .expect("sim");
        let cfg = config(&handle);
        assert_eq!(cfg.option("key_type"), Some("advanced"));
        let mut client = connect(&cfg).expect("client");
        let mut sink = StoreSink::new();
        client.fetch(everything(), &mut sink).await.expect("fetch");

        assert_eq!(sink.received.len(), 5000, "alerts delivered");
        assert_eq!(sink.unique(), 5000, "no alert delivered twice");
        assert_eq!(sink.pages, 50, "windows of 100");
        let n = assert_store_equals_truth(&sink.store, &cfg.name, &handle, Vendor::CortexXdr).await;
        assert_eq!(n, 5000);

        let k = &handle.state.counters;
        assert_eq!(
            c(&k.early_requests),
            0,
            "requests before Retry-After allowed"
        );
        assert!(
            c(&k.rate_limited) >= 3,
            "429s served: {}",
            c(&k.rate_limited)
        );
        assert_eq!(c(&k.server_errors), 3, "the 5xx burst was served");
        assert_eq!(c(&k.truncated), 1, "the truncated page was served");
        // Keys have no login: the expiry fault is one refused request, re-signed and replayed.
        assert_eq!(c(&k.unauthorized), 1);
        let st = client.stats();
        assert_eq!(s(&st.reauths), 1, "one replay after the 401");
        assert_eq!(s(&st.rate_limited), 3);
        assert!(s(&st.retries) >= 7, "retries: {}", s(&st.retries));
        // 50 windows + 3 × 429 + 3 × 503 + 1 truncated + 1 refused.
        assert_eq!(c(&k.data_requests), 58);
        handle.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn incremental_sync_asks_only_for_the_window() {
        let handle = start(
            Vendor::CortexXdr,
            SimOptions {
                alerts: 5000,
                seed: 22,
                ..SimOptions::default()
            },
        )
        .await
        .expect("sim");
        let mut cfg = config(&handle);
        cfg.concurrency = 4;
        let mut client = connect(&cfg).expect("client");
        let mut sink = StoreSink::new();
        client.fetch(everything(), &mut sink).await.expect("full");
        assert_eq!(sink.unique(), 5000);
        let watermark = sink.max_updated.expect("watermark");

        handle.evolve(500, 100).await;
        sink.reset_counts();
        let before = c(&handle.state.counters.data_requests);
        // The documented filter field (server_creation_time) sees the new alerts only: the
        // 500 changes to old ones wait for the scheduled full reconciliation.
        client
            .fetch(
                Window {
                    since: Some(watermark - cfg.overlap.as_millis() as i64),
                    until: now_ms(),
                    filter: None,
                },
                &mut sink,
            )
            .await
            .expect("incremental");
        let requests = c(&handle.state.counters.data_requests) - before;
        assert!(
            (100..550).contains(&sink.received.len()),
            "the window held {} alerts",
            sink.received.len()
        );
        assert_eq!(sink.received.len(), sink.unique(), "each once");
        assert!(requests <= 10, "{requests} requests for the window");
        client.fetch(everything(), &mut sink).await.expect("full");
        let n = assert_store_equals_truth(&sink.store, &cfg.name, &handle, Vendor::CortexXdr).await;
        assert_eq!(n, 5100);
        handle.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn windows_are_fetched_in_parallel_and_delivered_once_in_order() {
        let handle = start(
            Vendor::CortexXdr,
            SimOptions {
                alerts: 1234,
                faults: Faults::parse("latency=150ms").expect("faults"),
                ..SimOptions::default()
            },
        )
        .await
        .expect("sim");
        let overlap = |concurrency: u32| {
            let mut cfg = config(&handle);
            cfg.concurrency = concurrency;
            let state = handle.state.clone();
            async move {
                let mut client = connect(&cfg).expect("client");
                let mut sink = CountSink::default();
                state
                    .counters
                    .max_in_flight
                    .store(0, std::sync::atomic::Ordering::SeqCst);
                client.fetch(everything(), &mut sink).await.expect("fetch");
                (c(&state.counters.max_in_flight), sink)
            }
        };
        let (sequential, _) = overlap(1).await;
        let before = c(&handle.state.counters.data_requests);
        let (parallel, sink) = overlap(4).await;
        assert_eq!(sink.pages, 13);
        assert_eq!(sink.received.len(), 1234);
        assert_eq!(sink.unique(), 1234);
        // Oldest first, as asked (sort creation_time asc): the delivery order is the world's.
        let want: Vec<String> = {
            let world = handle.state.world.read().await;
            let mut f: Vec<_> = world.findings_for(Vendor::CortexXdr).collect();
            f.sort_by_key(|f| (f.created_ms, f.seq));
            f.iter()
                .map(|f| sitrep::vendors::cortex_xdr::sim::emit::native_id(&world, f))
                .collect()
        };
        assert_eq!(sink.received, want);
        assert_eq!(c(&handle.state.counters.data_requests) - before, 13);
        // 13 windows, each held 150 ms by the simulator: one at a time, or up to four at once
        // (the simulator counts the requests inside their wait; no wall clock is read).
        assert_eq!(sequential, 1, "concurrency 1 overlapped requests");
        assert!(
            (2..=4).contains(&parallel),
            "concurrency 4: at most {parallel} requests at once"
        );
        handle.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_standard_key_works_and_stale_or_replayed_signatures_do_not() {
        let handle = start(
            Vendor::CortexXdr,
            SimOptions {
                alerts: 250,
                ..SimOptions::default()
            },
        )
        .await
        .expect("sim");
        let (id, key) = xdr_sim::standard_key(1);
        let mut cfg = config(&handle);
        cfg.options.insert("key_type".into(), "standard".into());
        cfg.credentials
            .insert("key_id".into(), CredentialRef::Literal(Secret::new(&id)));
        cfg.credentials
            .insert("key".into(), CredentialRef::Literal(Secret::new(&key)));
        let mut client = connect(&cfg).expect("client");
        let mut sink = CountSink::default();
        client.fetch(everything(), &mut sink).await.expect("fetch");
        assert_eq!(sink.unique(), 250);

        // Hand-signed requests: fresh is fine, five minutes late is not, a nonce is good once.
        let (adv_id, adv_key) = xdr_sim::advanced_key(1);
        let http = reqwest::Client::new();
        let url = format!(
            "{}/public_api/v2/alerts/get_alerts_multi_events",
            handle.base_url
        );
        let send = |ts: i64, nonce: String| {
            let ts = ts.to_string();
            http.post(url.as_str())
                .header("x-xdr-auth-id", adv_id.as_str())
                .header("x-xdr-nonce", nonce.as_str())
                .header("x-xdr-timestamp", ts.as_str())
                .header("Authorization", xdr_sim::signature(&adv_key, &nonce, &ts))
                .json(&json!({"request_data": {"search_from": 0, "search_to": 1}}))
                .send()
        };
        let nonce = "A".repeat(64);
        let ok = send(now_ms(), nonce.clone()).await.expect("send");
        assert_eq!(ok.status().as_u16(), 200);
        let replayed = send(now_ms(), nonce).await.expect("send");
        assert_eq!(replayed.status().as_u16(), 401);
        let stale = send(now_ms() - 6 * 60_000, "B".repeat(64))
            .await
            .expect("send");
        assert_eq!(stale.status().as_u16(), 401);
        let body: Value = stale.json().await.expect("json");
        assert_eq!(body["reply"]["err_code"], 401);
        handle.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn alert_and_incident_write_back_change_the_world() {
        let handle = start(
            Vendor::CortexXdr,
            SimOptions {
                alerts: 300,
                ..SimOptions::default()
            },
        )
        .await
        .expect("sim");
        let cfg = config(&handle);
        let mut client = connect(&cfg).expect("client");
        let (ids, case) = {
            let world = handle.state.world.read().await;
            let open: Vec<_> = world
                .findings_for(Vendor::CortexXdr)
                .filter(|f| f.status == SimStatus::Open)
                .collect();
            let ids: Vec<String> = open
                .iter()
                .take(4)
                .map(|f| sitrep::vendors::cortex_xdr::sim::emit::native_id(&world, f))
                .collect();
            // An incident none of those alerts belongs to.
            let cases: Vec<Value> =
                sitrep::vendors::cortex_xdr::sim::emit::items(&world, &open[..4])
                    .into_iter()
                    .map(|i| i["case_id"].clone())
                    .collect();
            let all: Vec<_> = world.findings_for(Vendor::CortexXdr).collect();
            let case = sitrep::vendors::cortex_xdr::sim::emit::items(&world, &all)
                .into_iter()
                .map(|i| i["case_id"].clone())
                .find(|c| !cases.contains(c))
                .expect("another incident");
            (ids, case)
        };
        let set = |id: &str, status: Status, note: Option<&str>| WriteBack::SetStatus {
            native_id: id.to_string(),
            status,
            note: note.map(str::to_string),
        };
        let writes = [
            set(&ids[0], Status::InProgress, None),
            set(
                &ids[1],
                Status::Resolved {
                    reason: "contained".into(),
                },
                Some("host reimaged"),
            ),
            set(
                &ids[2],
                Status::Dismissed {
                    reason: DismissReason::FalsePositive,
                    note: None,
                    until: None,
                },
                None,
            ),
            WriteBack::Comment {
                native_id: ids[3].clone(),
                text: "asked the owner".into(),
            },
            set(
                &format!("incident-{case}"),
                Status::Dismissed {
                    reason: DismissReason::AcceptedRisk,
                    note: None,
                    until: None,
                },
                Some("known scanner"),
            ),
        ];
        for w in &writes {
            assert_eq!(
                client.write_back(w).await.expect("write"),
                WriteOutcome::Done,
                "{w:?}"
            );
        }
        let mut sink = StoreSink::new();
        client
            .fetch(everything(), &mut sink)
            .await
            .expect("refetch");
        let stored = helper::stored(&sink.store, &cfg.name);
        assert_eq!(stored[&ids[0]].0, VendorState::InProgress);
        assert_eq!(stored[&ids[1]].0, VendorState::Resolved);
        assert_eq!(stored[&ids[2]].0, VendorState::Dismissed);
        let raw = |id: &str| {
            sink.store
                .get(&format!("{}:{id}", cfg.name))
                .expect("get")
                .expect("stored")
                .alert
                .raw
        };
        assert_eq!(raw(&ids[1])["resolution_comment"], "host reimaged");
        assert_eq!(raw(&ids[3])["resolution_comment"], "asked the owner");
        // Every alert of the incident is resolved as a known issue.
        let members: Vec<String> = {
            let world = handle.state.world.read().await;
            let all: Vec<_> = world.findings_for(Vendor::CortexXdr).collect();
            sitrep::vendors::cortex_xdr::sim::emit::items(&world, &all)
                .into_iter()
                .filter(|i| i["case_id"] == case)
                .map(|i| format!("alert-{}", i["alert_id"].as_str().expect("id")))
                .collect()
        };
        assert!(!members.is_empty());
        for m in &members {
            assert_eq!(stored[m].0, VendorState::Dismissed, "{m}");
            assert_eq!(raw(m)["resolution_comment"], "known scanner");
        }
        assert_store_equals_truth(&sink.store, &cfg.name, &handle, Vendor::CortexXdr).await;

        let before = c(&handle.state.counters.data_requests);
        for w in [
            set(&ids[0], Status::Acknowledged, None),
            set(
                &ids[0],
                Status::Snoozed {
                    until: now_ms() + 3_600_000,
                    note: None,
                },
                None,
            ),
        ] {
            match client.write_back(&w).await.expect("answer") {
                WriteOutcome::Unsupported(reason) => {
                    assert!(reason.contains("Cortex XDR"), "{reason}")
                }
                other => panic!("{w:?} gave {other:?}"),
            }
        }
        assert_eq!(
            c(&handle.state.counters.data_requests),
            before,
            "nothing sent"
        );

        let err = client
            .write_back(&set("alert-999999999", Status::InProgress, None))
            .await
            .expect_err("unknown alert");
        assert!(matches!(err, ApiError::Vendor { .. }), "{err:?}");
        handle.stop().await;
    }

    /// The right advanced key sent as a standard key is refused (the rest of the wrong-key case
    /// is `shared::wrong_credentials_fail_cleanly`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_advanced_key_sent_as_a_standard_key_is_refused() {
        let handle = start(Vendor::CortexXdr, SimOptions::default())
            .await
            .expect("sim");
        let mut sink = StoreSink::new();
        let mut standard = config(&handle);
        standard
            .options
            .insert("key_type".into(), "standard".into());
        let mut client = connect(&standard).expect("client");
        let err = client
            .fetch(everything(), &mut sink)
            .await
            .expect_err("refused");
        assert!(matches!(err, ApiError::Unauthorized(_)), "{err:?}");
        handle.stop().await;
    }
}
