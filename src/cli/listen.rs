//! `sitrep listen`: the alert-push receiver in the foreground (docs/listen.md).
//!
//! Start-up lines and the periodic counters go to stderr (the journal, under systemd); the
//! final summary, after SIGINT or SIGTERM, to stdout.

use std::net::SocketAddr;

use clap::Args;

use super::env::{CliError, Env, io_err, runtime};
use crate::config::Config;
use crate::config::listen::check_addr;
use crate::store::Store;

#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Listen here instead of [listen] addr (127.0.0.1:0 picks a free port and prints it)
    #[arg(long, value_name = "ADDR")]
    pub addr: Option<String>,
}

pub(super) fn listen(
    a: ListenArgs,
    config: &Config,
    open: &dyn Fn() -> Result<Store, CliError>,
    env: &mut Env<'_>,
) -> Result<(), CliError> {
    let mut cfg = config.listen.clone();
    if let Some(text) = a.addr {
        let addr: SocketAddr = text.trim().parse().map_err(|_| {
            CliError::input(format!(
                "--addr '{}' is not an address like 127.0.0.1:8787",
                crate::sanitize::one_line(&text)
            ))
        })?;
        check_addr(addr, cfg.tls.is_some()).map_err(|e| CliError::input(format!("--addr: {e}")))?;
        cfg.addr = addr;
    }
    let routes =
        crate::listen::routes(config, &|v| std::env::var(v).ok()).map_err(CliError::input)?;
    let lines: Vec<String> = routes
        .iter()
        .map(|r| {
            format!(
                "  POST /webhook/{}  ({}: {})",
                r.source,
                r.vendor.as_str(),
                r.auth()
            )
        })
        .collect();
    let store = open()?;
    let clock = || chrono::Utc::now().timestamp_millis();
    runtime()?.block_on(async {
        let running = crate::listen::start(&cfg, routes, store, clock)
            .await
            .map_err(|e| match e {
                // The certificate or key files: configuration, like the rest of [listen].
                crate::listen::ListenError::Tls(m) => CliError::input(m),
                e @ crate::listen::ListenError::Bind { .. } => CliError::runtime(e.to_string()),
            })?;
        let scheme = if running.https { "https" } else { "http" };
        eprintln!("sitrep listen: listening on {scheme}://{}", running.addr);
        for l in &lines {
            eprintln!("{l}");
        }
        let mut tick = tokio::time::interval(cfg.report_every);
        tick.tick().await;
        let mut last = running.tally();
        let stop = stop_signal();
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {
                    let now = running.tally();
                    if now != last {
                        eprintln!("sitrep listen: {now}");
                        last = now;
                    }
                }
            }
        }
        let tally = running.shutdown().await;
        writeln!(env.out, "sitrep listen: stopped; {tally}").map_err(io_err)
    })
}

/// SIGINT (Ctrl-C) or SIGTERM (systemd's stop).
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
