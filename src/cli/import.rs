//! `sitrep import`: saved vendor responses, streamed into the store.
//!
//! A file (or stdin, `-`; gzip when it starts with gzip's magic bytes) is read through a buffer
//! on a reader thread, parsed and mapped item by item (`vendors::stream_payload`), and handed
//! over in batches of [`BATCH`] alerts with their derived values already computed; this thread
//! writes them. Each file is one transaction: a file that breaks anywhere — bad JSON at 90% of
//! its bytes, an item the mapper refuses, a store error — is rolled back whole, and the other
//! files of the command still import. Memory holds a few batches, never the file.

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::{Duration, Instant};

use super::ImportArgs;
use super::env::{CliError, Env, io_err};
use crate::domain::{Alert, EpochMs, Vendor};
use crate::sanitize;
use crate::store::{ImportStats, Importing, PreparedRow, Store};
use crate::vendors::StreamMapError;

/// Alerts per batch: big enough that a batch's statements and scoring lookups are amortised,
/// small enough that the batches in flight stay a few megabytes.
const BATCH: usize = 1000;

/// Batches the reader may run ahead of the writer.
const AHEAD: usize = 2;

/// The read buffer: large reads keep the file's (and the decompressor's) calls few.
const BUFFER: usize = 256 * 1024;

/// How often the progress line is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// Import the files; `open` opens the store keyed for the audit log with scores up to date,
/// and is called at the first batch.
pub(super) fn import(
    a: ImportArgs,
    env: &mut Env<'_>,
    open: &dyn Fn() -> Result<Store, CliError>,
) -> Result<(), CliError> {
    let vendor: Vendor = a.vendor;
    let source = source_name(a.source.as_deref(), vendor)?;
    let progress = std::io::stderr().is_terminal();
    // Opened when the first batch is ready, so a command whose files all fail early creates
    // no database.
    let mut store: Option<Store> = None;
    let mut failures = Vec::new();
    let mut total = ImportStats::default();
    for path in &a.files {
        let job = Job {
            vendor,
            source: &source,
            now_ms: env.now_ms,
            progress,
        };
        match import_file(path, &job, &mut store, open) {
            Ok(stats) => {
                writeln!(
                    env.out,
                    "{}: {} alert(s): {} new, {} updated, {} unchanged{}",
                    sanitize::one_line(&shown(path)),
                    stats.total(),
                    stats.new,
                    stats.updated,
                    stats.unchanged,
                    if stats.stale > 0 {
                        format!(", {} older than stored (kept out)", stats.stale)
                    } else {
                        String::new()
                    }
                )
                .map_err(io_err)?;
                total.add(stats);
            }
            Err(e) => {
                eprintln!("sitrep: error: {e}");
                failures.push(e);
            }
        }
    }
    if a.files.len() > 1 && failures.len() < a.files.len() {
        writeln!(
            env.out,
            "total: {} alert(s) from {} file(s): {} new, {} updated, {} unchanged",
            total.total(),
            a.files.len() - failures.len(),
            total.new,
            total.updated,
            total.unchanged
        )
        .map_err(io_err)?;
    }
    match failures.len() {
        0 => Ok(()),
        1 if a.files.len() == 1 => Err(CliError {
            code: failures[0].code,
            message: String::new(),
        }),
        n => Err(CliError {
            code: failures.iter().map(|f| f.code).max().unwrap_or(1),
            message: format!("{n} of {} file(s) were not imported", a.files.len()),
        }),
    }
}

/// `--source`, checked, or the vendor's name.
fn source_name(arg: Option<&str>, vendor: Vendor) -> Result<String, CliError> {
    let Some(s) = arg else {
        return Ok(vendor.as_str().to_string());
    };
    let s = s.trim();
    if s.is_empty()
        || s.contains(char::is_whitespace)
        || s.contains(':')
        || sanitize::clean(s).1.any()
    {
        return Err(CliError::input(format!(
            "--source '{}': a source name is one word without ':' or control characters",
            sanitize::one_line(s)
        )));
    }
    Ok(s.to_string())
}

/// What every file of the command shares.
struct Job<'a> {
    vendor: Vendor,
    source: &'a str,
    now_ms: EpochMs,
    progress: bool,
}

/// One batch: the alerts and their derived values.
struct Batch {
    alerts: Vec<Alert>,
    rows: Vec<PreparedRow>,
}

fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// How a file is named in output and errors.
fn shown(path: &Path) -> String {
    if is_stdin(path) {
        "stdin".to_string()
    } else {
        path.display().to_string()
    }
}

/// The end of an error about `path`: what the store holds of it.
fn nothing_of(path: &Path) -> String {
    let name = match path.file_name() {
        Some(n) if !is_stdin(path) => n.to_string_lossy().into_owned(),
        _ => shown(path),
    };
    format!("nothing of {} was imported", sanitize::one_line(&name))
}

/// Read, map and write one file in one transaction; on any error nothing of it is kept.
fn import_file(
    path: &Path,
    job: &Job<'_>,
    store: &mut Option<Store>,
    open: &dyn Fn() -> Result<Store, CliError>,
) -> Result<ImportStats, CliError> {
    let input = Input::open(path)?;
    let (to_writer, batches) = sync_channel::<Batch>(AHEAD);
    std::thread::scope(|s| {
        let reader = s.spawn(move || read_file(input, path, job, to_writer));
        let written = write_batches(&batches, store, open, job.now_ms);
        // A writer that stopped early lets the reader see its channel closed and stop too.
        drop(batches);
        let read = reader
            .join()
            .map_err(|_| CliError::runtime(format!("{}: the reader thread failed", shown(path))))?;
        let nothing = || nothing_of(path);
        let importing = written.map_err(|e| {
            CliError::runtime(format!("{}: {}; {}", shown(path), e.message, nothing()))
        })?;
        match read {
            Err(Failed::Input(msg)) => Err(CliError::input(format!("{msg}; {}", nothing()))),
            // Only the writer stops the reader, and its error was returned above.
            Err(Failed::Stopped) => Err(CliError::runtime(format!(
                "{}: the import stopped; {}",
                shown(path),
                nothing()
            ))),
            Ok(()) => match importing {
                Some(im) => im
                    .commit()
                    .map_err(|e| CliError::runtime(format!("{}: {e}; {}", shown(path), nothing()))),
                None => Ok(ImportStats::default()),
            },
        }
    })
}

/// Write every batch the reader sends into one open import (begun, and the store opened, at
/// the first batch); the caller commits it once the reader has finished well.
fn write_batches<'s>(
    batches: &Receiver<Batch>,
    store: &'s mut Option<Store>,
    open: &dyn Fn() -> Result<Store, CliError>,
    now_ms: EpochMs,
) -> Result<Option<Importing<'s>>, CliError> {
    let Ok(first) = batches.recv() else {
        return Ok(None);
    };
    let store = match store {
        Some(s) => s,
        None => store.insert(open()?),
    };
    let store_err = |e: crate::store::StoreError| CliError::runtime(e.to_string());
    let mut im = store.begin_bulk_import(now_ms).map_err(store_err)?;
    im.write_prepared(&first.alerts, &first.rows)
        .map_err(store_err)?;
    for b in batches {
        im.write_prepared(&b.alerts, &b.rows).map_err(store_err)?;
    }
    Ok(Some(im))
}

/// Why the reader stopped.
enum Failed {
    /// What was wrong with the input, naming the file.
    Input(String),
    /// The writer went away (its own error says why).
    Stopped,
}

/// An opened input and its size in bytes when known (for the progress line).
struct Input {
    reader: Box<dyn Read + Send>,
    size: Option<u64>,
}

impl Input {
    fn open(path: &Path) -> Result<Input, CliError> {
        if is_stdin(path) {
            return Ok(Input {
                reader: Box::new(std::io::stdin()),
                size: None,
            });
        }
        let cannot = |e: std::io::Error| {
            CliError::input(format!(
                "cannot read {}: {e}",
                sanitize::one_line(&shown(path))
            ))
        };
        let file = std::fs::File::open(path).map_err(cannot)?;
        let meta = file.metadata().map_err(cannot)?;
        Ok(Input {
            reader: Box::new(file),
            size: meta.is_file().then_some(meta.len()),
        })
    }
}

/// Counts the bytes read from the input (before decompression), for the progress line.
struct Metered<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Metered<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Notes whether anything but whitespace was read, so an empty file is named as such.
struct Blank<R> {
    inner: R,
    /// Shared with the reader's owner: the text reader is handed to the parser by value.
    only_space: Arc<AtomicBool>,
}

impl<R: Read> Read for Blank<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.only_space.load(Ordering::Relaxed) && !buf[..n].iter().all(u8::is_ascii_whitespace)
        {
            self.only_space.store(false, Ordering::Relaxed);
        }
        Ok(n)
    }
}

/// The reader thread: decompress if gzip, stream-map, send full batches; the last (possibly
/// empty) batch only once the whole file read well.
fn read_file(
    input: Input,
    path: &Path,
    job: &Job<'_>,
    to_writer: SyncSender<Batch>,
) -> Result<(), Failed> {
    let name = sanitize::one_line(&shown(path));
    let read = Arc::new(AtomicU64::new(0));
    let mut buffered = BufReader::with_capacity(
        BUFFER,
        Metered {
            inner: input.reader,
            read: Arc::clone(&read),
        },
    );
    let cannot = |e: std::io::Error| Failed::Input(format!("cannot read {name}: {e}"));
    let gzip = buffered
        .fill_buf()
        .map_err(cannot)?
        .starts_with(&[0x1f, 0x8b]);
    let decoded: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let only_space = Arc::new(AtomicBool::new(true));
    // By value: std reads a `BufReader`'s bytes one at a time from its buffer directly, and
    // serde_json reads a stream one byte at a time.
    let text = BufReader::with_capacity(
        BUFFER,
        Blank {
            inner: decoded,
            only_space: Arc::clone(&only_space),
        },
    );
    let mut progress = job.progress.then(|| Progress::new(&name, input.size, read));
    let mut batch = Vec::with_capacity(BATCH);
    let mut sent = false;
    let mut send = |alerts: Vec<Alert>| {
        let rows = crate::store::prepare(&alerts, job.now_ms);
        sent = true;
        to_writer.send(Batch { alerts, rows })
    };
    let streamed = crate::vendors::stream_payload(job.vendor, job.source, text, |alerts| {
        if let Some(p) = &mut progress {
            p.items += 1;
            p.show();
        }
        batch.extend(alerts);
        if batch.len() >= BATCH {
            send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))?;
        }
        Ok::<(), std::sync::mpsc::SendError<Batch>>(())
    });
    if let Some(p) = &mut progress {
        p.clear();
    }
    match streamed {
        Ok(_) => {
            // An empty list still opens the store and reports "0 alert(s)".
            if !batch.is_empty() || !sent {
                let rows = crate::store::prepare(&batch, job.now_ms);
                to_writer
                    .send(Batch {
                        alerts: batch,
                        rows,
                    })
                    .map_err(|_| Failed::Stopped)?;
            }
            Ok(())
        }
        Err(StreamMapError::Stopped(_)) => Err(Failed::Stopped),
        Err(StreamMapError::Map(e)) => Err(Failed::Input(format!("{name}: {e}"))),
        Err(StreamMapError::Json(e)) if e.is_io() => Err(Failed::Input(format!(
            "cannot read {name}: {}",
            sanitize::one_line(&strip_position(&e.to_string()))
        ))),
        Err(StreamMapError::Json(e)) if e.is_eof() && only_space.load(Ordering::Relaxed) => {
            Err(Failed::Input(format!("{name}: the file is empty")))
        }
        Err(StreamMapError::Json(e)) => Err(Failed::Input(format!(
            "{name}: invalid JSON at line {} column {}: {}",
            e.line(),
            e.column(),
            sanitize::one_line(&strip_position(&e.to_string()))
        ))),
    }
}

/// serde_json appends " at line L column C"; we print the position ourselves.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// The progress line on a terminal's stderr: items, items per second, share of the bytes.
struct Progress {
    name: String,
    size: Option<u64>,
    read: Arc<AtomicU64>,
    items: u64,
    start: Instant,
    last: Instant,
}

impl Progress {
    fn new(name: &str, size: Option<u64>, read: Arc<AtomicU64>) -> Progress {
        let now = Instant::now();
        Progress {
            name: name.to_string(),
            size,
            read,
            items: 0,
            start: now,
            last: now,
        }
    }

    fn show(&mut self) {
        // The clock is read every 1,024 items only: a line per item would cost more than it.
        if !self.items.is_multiple_of(1024) || self.last.elapsed() < PROGRESS_EVERY {
            return;
        }
        self.last = Instant::now();
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        let read = self.read.load(Ordering::Relaxed);
        let share = match self.size {
            Some(size) if size > 0 => format!(
                ", {:.0}% of {} MB",
                100.0 * read as f64 / size as f64,
                size / 1_000_000
            ),
            _ => format!(", {} MB read", read / 1_000_000),
        };
        let mut err = std::io::stderr().lock();
        // Progress is a courtesy: a stderr that cannot be written does not stop the import.
        let _ = write!(
            err,
            "\r\x1b[K{}: {} items, {:.0} items/s{share}",
            self.name,
            self.items,
            self.items as f64 / secs
        );
        let _ = err.flush();
    }

    fn clear(&mut self) {
        let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
    }
}
