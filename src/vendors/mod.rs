//! One folder per vendor, all of the same shape, and the registry that picks them.
//!
//! `vendors/<v>/` holds `map.rs` (payload → alerts, `sniff`, the list replies' item paths),
//! `client.rs` (auth, paging, incremental windows, write-back) and `sim/` (`emit.rs`, the
//! findings of the seeded world in the vendor's own payload shape; `server.rs`, its API on
//! loopback), and a short `mod.rs` whose `const KIT` names them as one [`VendorKit`], a plain
//! struct of the vendor's functions and constants. [`kit`] is the only `match` on [`Vendor`] in
//! the crate; everything that works per vendor asks it.
//!
//! `vendors` sits above `sources` (the shared client kit and the sync engine, handed
//! [`connect`]) and above `sim` (the world and the simulator machinery).

/// A vendor folder's [`VendorKit`], from the names every folder defines alike
/// (`map::{map, sniff, ITEM_PATHS}`, `client::Client::new`, `sim::server::{router,
/// credentials, source_toml}`, `sim::emit::{items, list_body, native_id}`): what differs
/// between vendors is the vendor, its default page size and its simulated churn. A folder
/// missing one of the names does not compile. (`webhook::KIT` too: its alert pushes.)
macro_rules! vendor_kit {
    ($vendor:expr, page_size: $page:expr, churn: $churn:expr) => {
        $crate::vendors::vendor_kit!($vendor, page_size: $page, churn: $churn,
            write_backs: &["status"], refuse_write_back: $crate::vendors::writable)
    };
    ($vendor:expr, page_size: $page:expr, churn: $churn:expr,
     write_backs: $kinds:expr, refuse_write_back: $refuse:expr) => {
        $crate::vendors::VendorKit {
            vendor: $vendor,
            map: map::map,
            sniff: map::sniff,
            item_paths: map::ITEM_PATHS,
            default_page_size: $page,
            connect: |cfg, transport| Ok(Box::new(client::Client::new(cfg, transport)?)),
            sim_router: sim::server::router,
            sim_credentials: sim::server::credentials,
            sim_source_toml: sim::server::source_toml,
            emit_items: sim::emit::items,
            emit_list_body: sim::emit::list_body,
            emit_native_id: sim::emit::native_id,
            sim_churn: $churn,
            write_backs: $kinds,
            refuse_write_back: $refuse,
            webhook: &webhook::KIT,
        }
    };
}
use vendor_kit;

pub mod cortex_xdr;
pub mod emit;
pub mod lacework;
pub mod orca;
pub mod prisma_compute;
pub mod prisma_cspm;
pub mod sim;
pub mod webhook;
pub mod wiz;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::config::SourceConfig;
use crate::domain::{Alert, Vendor};
use crate::sim::server::SimState;
use crate::sim::world::{SimFinding, World};
use crate::sources::api::{ApiError, SourceClient, Transport};
use crate::sources::stream::StreamError;
use crate::sources::{ItemPaths, MapError, Page};

/// Everything sitrep knows how to do with one vendor: plain data, one `const KIT` in each
/// vendor's `mod.rs` naming its functions.
pub struct VendorKit {
    /// The vendor this kit is for.
    pub vendor: Vendor,

    /// A list response body or a single item → alerts (their `source` is set by the caller).
    pub map: fn(&Value) -> Result<Vec<Alert>, MapError>,

    /// What the body looks like ("a Wiz GraphQL issues response") when it is this vendor's,
    /// so that a file given under the wrong `--vendor` gets a useful error.
    pub sniff: fn(&Value) -> Option<&'static str>,

    /// Where list replies keep their items, for item-by-item mapping.
    pub item_paths: ItemPaths,

    /// The page size the client asks for when its source sets no `page_size`; None when the
    /// vendor's API chooses (Lacework).
    pub default_page_size: Option<u32>,

    /// The client of a configured source over the transport.
    pub connect: ConnectOver,

    /// The simulator's routes over the state.
    pub sim_router: fn(Arc<SimState>) -> Router,

    /// The environment variables (name, value) a client of the simulator needs, for a seed.
    pub sim_credentials: fn(u64) -> Vec<(String, String)>,

    /// A `[[source]]` table (name, base URL) pointing sitrep at the simulator, naming those
    /// variables.
    pub sim_source_toml: fn(&str, &str) -> String,

    /// The list-response items for findings of the world (all of this vendor).
    pub emit_items: fn(&World, &[&SimFinding]) -> Vec<Value>,

    /// One complete list response body holding the items, as the list endpoint sends it when
    /// everything fits on one page.
    pub emit_list_body: fn(Vec<Value>) -> Value,

    /// The native id the mapper gives the alert made from a finding.
    pub emit_native_id: fn(&World, &SimFinding) -> String,

    /// The tenant's own activity between two refreshes beyond the world's evolution
    /// (`sitrep sim --churn`, `sitrep demo`), given the number of findings added; [`no_churn`]
    /// for most vendors.
    pub sim_churn: for<'a> fn(&'a SimState, usize) -> BoxFuture<'a, ()>,

    /// The write-back kinds the client implements (`status`, `comment`), for
    /// `sitrep source check`.
    pub write_backs: &'static [&'static str],

    /// Why a write-back to this alert cannot work, asked before a decision queues one (Wiz's
    /// mutations take issue ids, so its vulnerability findings cannot be written back); None
    /// when it can ([`writable`] for most vendors).
    pub refuse_write_back: fn(&Alert) -> Option<&'static str>,

    /// How the vendor's alert pushes authenticate and where their alerts are
    /// (`sitrep listen`, docs/listen.md).
    pub webhook: &'static webhook::WebhookKit,
}

/// The [`VendorKit::refuse_write_back`] of a vendor whose every alert can be written back.
pub fn writable(_alert: &Alert) -> Option<&'static str> {
    None
}

/// A [`VendorKit::connect`]: like [`crate::sources::api::Connect`], over a transport already
/// built.
pub type ConnectOver = fn(&SourceConfig, Transport) -> Result<Box<dyn SourceClient>, ApiError>;

/// The [`VendorKit::sim_churn`] of a vendor whose tenant does nothing of its own.
pub fn no_churn(_state: &SimState, _added: usize) -> BoxFuture<'_, ()> {
    Box::pin(async {})
}

/// The registry: the kit of `vendor`. Adding a vendor is one arm here and its folder.
pub fn kit(vendor: Vendor) -> &'static VendorKit {
    match vendor {
        Vendor::PrismaCspm => &prisma_cspm::KIT,
        Vendor::PrismaCompute => &prisma_compute::KIT,
        Vendor::Wiz => &wiz::KIT,
        Vendor::Lacework => &lacework::KIT,
        Vendor::Orca => &orca::KIT,
        Vendor::CortexXdr => &cortex_xdr::KIT,
    }
}

/// Map a vendor payload (list body or single item) to alerts whose `source` is `source`.
///
/// On a shape error, the other vendors' sniffers are asked what the body looks like, so the
/// message can say "this looks like a Wiz GraphQL response, not prisma-cspm".
pub fn map_payload(vendor: Vendor, source: &str, body: &Value) -> Result<Vec<Alert>, MapError> {
    match (kit(vendor).map)(body) {
        Ok(mut alerts) => {
            for a in &mut alerts {
                a.source = source.to_string();
            }
            Ok(alerts)
        }
        Err(e @ MapError::Shape { .. }) => match sniff_other(vendor, body) {
            Some(looks_like) => Err(MapError::WrongVendor {
                looks_like,
                expected: vendor.as_str(),
            }),
            None => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// What the body looks like, asking every vendor but `except`.
fn sniff_other(except: Vendor, body: &Value) -> Option<&'static str> {
    Vendor::ALL
        .into_iter()
        .filter(|v| *v != except)
        .find_map(|v| sniff(v, body))
}

/// What the body looks like if it is `vendor`'s.
fn sniff(vendor: Vendor, body: &Value) -> Option<&'static str> {
    (kit(vendor).sniff)(body)
}

/// Parse a list reply of `vendor`'s with its items kept as text.
pub fn parse_page(vendor: Vendor, text: &[u8]) -> Result<Page, serde_json::Error> {
    Page::parse(kit(vendor).item_paths, text)
}

/// Map a list reply item by item, with the same result as [`map_payload`] on the whole reply.
pub fn map_page(vendor: Vendor, source: &str, page: Page) -> Result<Vec<Alert>, MapError> {
    crate::sources::map_items(page, &|body| map_payload(vendor, source, body))
}

/// Why a payload read from a stream was not mapped to the end.
#[derive(Debug)]
pub enum StreamMapError<E> {
    /// Not JSON (serde_json's error, with its position).
    Json(serde_json::Error),
    /// Not a payload of the vendor's, or an item of it that does not map.
    Map(MapError),
    /// The handler refused alerts.
    Stopped(E),
}

/// Map a payload (list body or single item) read from `reader` item by item: each item's
/// alerts (their `source` set) go to `each` as soon as it is read, in the order
/// [`map_payload`] gives them, so memory holds one item, not the body. A body without an item
/// array at the kit's paths is mapped whole. Returns how many items were streamed.
///
/// On an error `each` may already have taken the alerts of the items before it: the caller
/// undoes them. An item the vendor does not recognise at all is an error naming its index,
/// unless it is the first, which reads as the whole reply's (wrong vendor, not alerts).
pub fn stream_payload<R, E, F>(
    vendor: Vendor,
    source: &str,
    reader: R,
    mut each: F,
) -> Result<usize, StreamMapError<E>>
where
    R: std::io::Read,
    F: FnMut(Vec<Alert>) -> Result<(), E>,
{
    enum Halt<E> {
        Map(MapError),
        Stopped(E),
    }
    let mut mapped = 0usize;
    let streamed = crate::sources::stream::stream_items(
        kit(vendor).item_paths,
        reader,
        |shell: &Value, index| match map_payload(vendor, source, shell) {
            Ok(alerts) => {
                mapped += 1;
                each(alerts).map_err(Halt::Stopped)
            }
            // The shell holds one item: its index is the stream's.
            Err(MapError::Item { detail, .. }) => Err(Halt::Map(MapError::Item { index, detail })),
            Err(e) if mapped > 0 => Err(Halt::Map(MapError::Item {
                index,
                detail: e.to_string(),
            })),
            Err(e) => Err(Halt::Map(e)),
        },
    )
    .map_err(|e| match e {
        StreamError::Json(e) => StreamMapError::Json(e),
        StreamError::Repeated(path) => StreamMapError::Map(MapError::Shape {
            vendor: vendor.as_str(),
            detail: format!("the item list `{}` appears twice", path.join(".")),
        }),
        StreamError::Stopped(Halt::Map(e)) => StreamMapError::Map(e),
        StreamError::Stopped(Halt::Stopped(e)) => StreamMapError::Stopped(e),
    })?;
    // The rest of the body (the whole of it when nothing was streamed) is mapped as it
    // stands: the envelope of a list must be one the mapper accepts, as the whole body was.
    let rest = map_payload(vendor, source, &streamed.body).map_err(StreamMapError::Map)?;
    if !rest.is_empty() {
        each(rest).map_err(StreamMapError::Stopped)?;
    }
    Ok(streamed.items)
}

/// The page size a client of `vendor` asks for when its source sets none.
pub fn default_page_size(vendor: Vendor) -> Option<u32> {
    kit(vendor).default_page_size
}

/// Build the client for `cfg` (credentials are resolved now; nothing is sent yet). The sync
/// engine and the outbox are handed this as a [`crate::sources::api::Connect`].
pub fn connect(cfg: &SourceConfig) -> Result<Box<dyn SourceClient>, ApiError> {
    let transport = Transport::new(cfg)?;
    (kit(cfg.vendor).connect)(cfg, transport)
}
