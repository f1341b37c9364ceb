//! Prisma Cloud Compute: the mapper (`map.rs`), the API client (`client.rs`) and the simulator
//! (`sim/`), handed to the registry as one [`KIT`].

pub mod client;
pub mod map;
pub mod sim;
pub mod webhook;

use futures_util::future::BoxFuture;

use super::VendorKit;
use crate::domain::Vendor;
use crate::sim::server::SimState;

/// Prisma Cloud Compute's kit.
pub const KIT: VendorKit = super::vendor_kit!(Vendor::PrismaCompute, page_size: Some(client::DEFAULT_PAGE_SIZE), churn: churn);

/// Fixed vulnerabilities drop out of Compute's scan results: about half as many fixes as new
/// findings.
fn churn(state: &SimState, added: usize) -> BoxFuture<'_, ()> {
    Box::pin(async move {
        sim::server::fix_findings(state, added.div_ceil(2)).await;
    })
}
