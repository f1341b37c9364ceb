//! Emitters by vendor: findings of the [`World`] in each vendor's own payload shape, through
//! the registry (each vendor's emitter is `vendors/<v>/sim/emit.rs`).

use serde_json::Value;

use super::kit;
use crate::domain::Vendor;
use crate::sim::world::{SimFinding, World};

/// The list-response items for `findings` (all of `vendor`).
pub fn items(vendor: Vendor, world: &World, findings: &[&SimFinding]) -> Vec<Value> {
    (kit(vendor).emit_items)(world, findings)
}

/// One complete list response body holding `items`, as the vendor's list endpoint sends it
/// when everything fits on one page.
pub fn list_body(vendor: Vendor, items: Vec<Value>) -> Value {
    (kit(vendor).emit_list_body)(items)
}

/// The native id the vendor's mapper gives the alert made from `f`.
pub fn native_id(vendor: Vendor, world: &World, f: &SimFinding) -> String {
    (kit(vendor).emit_native_id)(world, f)
}

/// A full list body for every finding of `vendor` in the world.
pub fn vendor_body(vendor: Vendor, world: &World) -> Value {
    let findings: Vec<&SimFinding> = world.findings_for(vendor).collect();
    list_body(vendor, items(vendor, world, &findings))
}
