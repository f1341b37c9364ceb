//! Prisma Cloud Compute: the mapper (`map.rs`), the API client (`client.rs`) and the simulator
//! (`sim/`), handed to the registry as one [`KIT`].

pub mod client;
pub mod map;
pub mod sim;

use futures_util::future::BoxFuture;

use super::VendorKit;
use crate::domain::Vendor;
use crate::sim::server::SimState;

/// Prisma Cloud Compute's kit.
pub const KIT: VendorKit = VendorKit {
    vendor: Vendor::PrismaCompute,
    map: map::map,
    sniff: map::sniff,
    item_paths: map::ITEM_PATHS,
    default_page_size: Some(client::DEFAULT_PAGE_SIZE),
    connect: |cfg, transport| Ok(Box::new(client::Client::new(cfg, transport)?)),
    sim_router: sim::server::router,
    sim_credentials: sim::server::credentials,
    sim_source_toml: sim::server::source_toml,
    emit_items: sim::emit::items,
    emit_list_body: sim::emit::list_body,
    emit_native_id: sim::emit::native_id,
    sim_churn: churn,
};

/// Fixed vulnerabilities drop out of Compute's scan results: about half as many fixes as new
/// findings.
fn churn(state: &SimState, added: usize) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        sim::server::fix_findings(state, added.div_ceil(2)).await;
    })
}
