//! One folder per vendor, all of the same shape, and the registry that picks them.
//!
//! `vendors/<v>/` holds `map.rs` (payload → alerts, `sniff`, the list replies' item paths),
//! `client.rs` (auth, paging, incremental windows, write-back) and `sim/` (`emit.rs`, the
//! findings of the seeded world in the vendor's own payload shape; `server.rs`, its API on
//! loopback), and a short `mod.rs` exposing them as one [`VendorKit`]. [`kit`] is the only
//! `match` on [`Vendor`] in the crate; everything that works per vendor asks it.
//!
//! `vendors` sits above `sources` (the shared client kit and the sync engine, handed
//! [`connect`]) and above `sim` (the world and the simulator machinery).

pub mod cortex_xdr;
pub mod emit;
pub mod lacework;
pub mod orca;
pub mod prisma_compute;
pub mod prisma_cspm;
pub mod sim;
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
use crate::sources::{ItemPaths, MapError, Page};

/// Everything sitrep knows how to do with one vendor.
pub trait VendorKit: Sync {
    fn vendor(&self) -> Vendor;

    /// A list response body or a single item → alerts (their `source` is set by the caller).
    fn map(&self, body: &Value) -> Result<Vec<Alert>, MapError>;

    /// What the body looks like ("a Wiz GraphQL issues response") when it is this vendor's,
    /// so that a file given under the wrong `--vendor` gets a useful error.
    fn sniff(&self, body: &Value) -> Option<&'static str>;

    /// Where list replies keep their items, for item-by-item mapping.
    fn item_paths(&self) -> ItemPaths;

    /// The page size the client asks for when its source sets no `page_size`; None when the
    /// vendor's API chooses (Lacework).
    fn default_page_size(&self) -> Option<u32>;

    /// The client of a configured source over `transport`.
    fn connect(
        &self,
        cfg: &SourceConfig,
        transport: Transport,
    ) -> Result<Box<dyn SourceClient>, ApiError>;

    /// The simulator's routes over `state`.
    fn sim_router(&self, state: Arc<SimState>) -> Router;

    /// The environment variables (name, value) a client of the simulator needs.
    fn sim_credentials(&self, seed: u64) -> Vec<(String, String)>;

    /// A `[[source]]` table pointing sitrep at the simulator, naming those variables.
    fn sim_source_toml(&self, name: &str, base_url: &str) -> String;

    /// The list-response items for `findings` (all of this vendor).
    fn emit_items(&self, world: &World, findings: &[&SimFinding]) -> Vec<Value>;

    /// One complete list response body holding `items`, as the list endpoint sends it when
    /// everything fits on one page.
    fn emit_list_body(&self, items: Vec<Value>) -> Value;

    /// The native id the mapper gives the alert made from `f`.
    fn emit_native_id(&self, world: &World, f: &SimFinding) -> String;

    /// The tenant's own activity between two refreshes beyond the world's evolution
    /// (`sitrep sim --churn`, `sitrep demo`); nothing by default.
    fn sim_churn<'a>(&self, _state: &'a SimState, _added: usize) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// The registry: the kit of `vendor`. Adding a vendor is one arm here and its folder.
pub fn kit(vendor: Vendor) -> &'static dyn VendorKit {
    match vendor {
        Vendor::PrismaCspm => &prisma_cspm::Kit,
        Vendor::PrismaCompute => &prisma_compute::Kit,
        Vendor::Wiz => &wiz::Kit,
        Vendor::Lacework => &lacework::Kit,
        Vendor::Orca => &orca::Kit,
        Vendor::CortexXdr => &cortex_xdr::Kit,
    }
}

/// Map a vendor payload (list body or single item) to alerts whose `source` is `source`.
///
/// On a shape error, the other vendors' sniffers are asked what the body looks like, so the
/// message can say "this looks like a Wiz GraphQL response, not prisma-cspm".
pub fn map_payload(vendor: Vendor, source: &str, body: &Value) -> Result<Vec<Alert>, MapError> {
    match kit(vendor).map(body) {
        Ok(mut alerts) => {
            for a in &mut alerts {
                a.source = source.to_string();
            }
            Ok(alerts)
        }
        Err(MapError::Shape { .. }) if sniff_other(vendor, body).is_some() => {
            Err(MapError::WrongVendor {
                looks_like: sniff_other(vendor, body).unwrap_or("another vendor's payload"),
                expected: vendor.as_str(),
            })
        }
        Err(e) => Err(e),
    }
}

/// What the body looks like, asking every vendor but `except`.
pub fn sniff_other(except: Vendor, body: &Value) -> Option<&'static str> {
    Vendor::ALL
        .into_iter()
        .filter(|v| *v != except)
        .find_map(|v| sniff(v, body))
}

/// What the body looks like if it is `vendor`'s.
pub fn sniff(vendor: Vendor, body: &Value) -> Option<&'static str> {
    kit(vendor).sniff(body)
}

/// Parse a list reply of `vendor`'s with its items kept as text.
pub fn parse_page(vendor: Vendor, text: &[u8]) -> Result<Page, serde_json::Error> {
    Page::parse(kit(vendor).item_paths(), text)
}

/// Map a list reply item by item, with the same result as [`map_payload`] on the whole reply.
pub fn map_page(vendor: Vendor, source: &str, page: Page) -> Result<Vec<Alert>, MapError> {
    crate::sources::map_items(page, &|body| map_payload(vendor, source, body))
}

/// The page size a client of `vendor` asks for when its source sets none.
pub fn default_page_size(vendor: Vendor) -> Option<u32> {
    kit(vendor).default_page_size()
}

/// Build the client for `cfg` (credentials are resolved now; nothing is sent yet). The sync
/// engine and the outbox are handed this as a [`crate::sources::api::Connect`].
pub fn connect(cfg: &SourceConfig) -> Result<Box<dyn SourceClient>, ApiError> {
    let transport = Transport::new(cfg)?;
    kit(cfg.vendor).connect(cfg, transport)
}
