//! sitrep's entry point: parse arguments, install the panic hook and logging, run.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use sitrep::cli::{self, Cli};

/// Sync, import and the console allocate and free many small JSON nodes and strings; glibc's
/// malloc spent about a third of a sync's local CPU on that (docs/performance.md, "Sync").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A panic is a bug: one line on stderr, never a backtrace dumped on the analyst.
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "sitrep: internal error{place}: {}",
            sitrep::sanitize::one_line(&msg)
        );
    }));
    let args = Cli::parse();
    init_logging();
    let now_ms = match cli::Env::now_from_env() {
        Ok(n) => n,
        Err(e) => return fail(&e),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut env = cli::Env {
        now_ms,
        out: &mut out,
        width: cli::Env::terminal_width(),
    };
    let result =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cli::run(args, &mut env)));
    let flushed = out.flush();
    match result {
        Ok(Ok(())) => match flushed {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                eprintln!("sitrep: error: cannot write output: {e}");
                ExitCode::from(1)
            }
            _ => ExitCode::SUCCESS,
        },
        Ok(Err(e)) => fail(&e),
        Err(_) => ExitCode::from(1),
    }
}

fn fail(e: &cli::CliError) -> ExitCode {
    if !e.message.is_empty() {
        eprintln!("sitrep: error: {e}");
    }
    ExitCode::from(e.code.clamp(0, 255) as u8)
}

/// `SITREP_LOG=debug` (any tracing filter) logs to `SITREP_LOG_FILE` or `sitrep.log` in the
/// cache directory. Never to stdout or stderr.
fn init_logging() {
    let Ok(filter) = std::env::var("SITREP_LOG") else {
        return;
    };
    let path = std::env::var_os("SITREP_LOG_FILE")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            directories::ProjectDirs::from("", "", "sitrep")
                .map(|d| d.cache_dir().join("sitrep.log"))
        });
    let Some(path) = path else { return };
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .try_init();
}
