//! Starting the vendor simulators by vendor, through the registry, over the shared machinery
//! in `sim::server` (state, faults, the gate, [`serve`]).

use std::sync::Arc;

use super::kit;
use crate::domain::Vendor;
use crate::sim::server::{SimError, SimHandle, SimOptions, SimState, evolve_state, serve};
use crate::sim::world::World;

/// Start the simulator of `vendor` on loopback.
pub async fn start(vendor: Vendor, opts: SimOptions) -> Result<SimHandle, SimError> {
    let world = World::generate(opts.seed, opts.alerts, opts.now_ms);
    start_with_world(vendor, world, opts).await
}

/// Start the simulator of `vendor` serving `world` (shared ground truth across vendors).
async fn start_with_world(
    vendor: Vendor,
    world: World,
    opts: SimOptions,
) -> Result<SimHandle, SimError> {
    let kit = kit(vendor);
    let state = Arc::new(SimState::new(vendor, world, opts.faults.clone(), opts.seed));
    let router = (kit.sim_router)(state.clone());
    let name = opts
        .source_name
        .clone()
        .unwrap_or_else(|| format!("{}-sim", vendor.as_str()));
    let env = (kit.sim_credentials)(opts.seed);
    serve(state, router, opts.port, opts.tls, env, |base_url| {
        (kit.sim_source_toml)(&name, base_url)
    })
    .await
}

/// A tenant's activity between two refreshes, for `sitrep sim --churn` and `sitrep demo`:
/// [`evolve_state`], and what the vendor does of its own (Prisma Cloud Compute drops fixed
/// vulnerabilities from its scan results).
pub async fn churn_state(state: &SimState, changed: usize, added: usize) {
    evolve_state(state, changed, added).await;
    (kit(state.vendor).sim_churn)(state, added).await;
}
