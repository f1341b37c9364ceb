//! Lacework: the mapper (`map.rs`), the API client (`client.rs`) and the simulator
//! (`sim/`), handed to the registry as one [`KIT`].

pub mod client;
pub mod map;
pub mod sim;

use super::{VendorKit, no_churn};
use crate::domain::Vendor;

/// Lacework's kit.
pub const KIT: VendorKit = VendorKit {
    vendor: Vendor::Lacework,
    map: map::map,
    sniff: map::sniff,
    item_paths: map::ITEM_PATHS,
    default_page_size: None,
    connect: |cfg, transport| Ok(Box::new(client::Client::new(cfg, transport)?)),
    sim_router: sim::server::router,
    sim_credentials: sim::server::credentials,
    sim_source_toml: sim::server::source_toml,
    emit_items: sim::emit::items,
    emit_list_body: sim::emit::list_body,
    emit_native_id: sim::emit::native_id,
    sim_churn: no_churn,
};
