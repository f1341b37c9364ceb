//! Emitters: findings of the [`World`] in each vendor's own payload shape.
//!
//! For every vendor, `items` gives the objects its list endpoint returns for some findings,
//! `list_body` wraps them as one complete (single-page) list response, and `native_id` says
//! which native id the vendor's mapper in `sources/` produces for a finding.

pub mod cortex_xdr;
pub mod lacework;
pub mod orca;
pub mod prisma_compute;
pub mod prisma_cspm;
pub mod wiz;

use serde_json::Value;

use crate::domain::Vendor;

use super::world::{SimFinding, World};

/// The list-response items for `findings` (all of `vendor`).
pub fn items(vendor: Vendor, world: &World, findings: &[&SimFinding]) -> Vec<Value> {
    match vendor {
        Vendor::PrismaCspm => prisma_cspm::items(world, findings),
        Vendor::PrismaCompute => prisma_compute::items(world, findings),
        Vendor::Wiz => wiz::items(world, findings),
        Vendor::Lacework => lacework::items(world, findings),
        Vendor::Orca => orca::items(world, findings),
        Vendor::CortexXdr => cortex_xdr::items(world, findings),
    }
}

/// One complete list response body holding `items`, as the vendor's list endpoint sends it
/// when everything fits on one page.
pub fn list_body(vendor: Vendor, items: Vec<Value>) -> Value {
    match vendor {
        Vendor::PrismaCspm => prisma_cspm::list_body(items),
        Vendor::PrismaCompute => prisma_compute::list_body(items),
        Vendor::Wiz => wiz::list_body(items),
        Vendor::Lacework => lacework::list_body(items),
        Vendor::Orca => orca::list_body(items),
        Vendor::CortexXdr => cortex_xdr::list_body(items),
    }
}

/// The native id the vendor's mapper gives the alert made from `f`.
pub fn native_id(vendor: Vendor, world: &World, f: &SimFinding) -> String {
    match vendor {
        Vendor::PrismaCspm => prisma_cspm::native_id(world, f),
        Vendor::PrismaCompute => prisma_compute::native_id(world, f),
        Vendor::Wiz => wiz::native_id(world, f),
        Vendor::Lacework => lacework::native_id(world, f),
        Vendor::Orca => orca::native_id(world, f),
        Vendor::CortexXdr => cortex_xdr::native_id(world, f),
    }
}

/// A full list body for every finding of `vendor` in the world.
pub fn vendor_body(vendor: Vendor, world: &World) -> Value {
    let findings: Vec<&SimFinding> = world.findings_for(vendor).collect();
    list_body(vendor, items(vendor, world, &findings))
}
