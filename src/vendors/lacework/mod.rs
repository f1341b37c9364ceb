//! Lacework: the mapper (`map.rs`), the API client (`client.rs`) and the simulator
//! (`sim/`), exposed to the registry as one [`Kit`].

pub mod client;
pub mod map;
pub mod sim;

use std::sync::Arc;

use axum::Router;
use serde_json::Value;

use super::VendorKit;
use crate::config::SourceConfig;
use crate::domain::{Alert, Vendor};
use crate::sim::server::SimState;
use crate::sim::world::{SimFinding, World};
use crate::sources::api::{ApiError, SourceClient, Transport};
use crate::sources::{ItemPaths, MapError};

/// Lacework's kit.
pub struct Kit;

impl VendorKit for Kit {
    fn vendor(&self) -> Vendor {
        Vendor::Lacework
    }
    fn map(&self, body: &Value) -> Result<Vec<Alert>, MapError> {
        map::map(body)
    }
    fn sniff(&self, body: &Value) -> Option<&'static str> {
        map::sniff(body)
    }
    fn item_paths(&self) -> ItemPaths {
        map::ITEM_PATHS
    }
    fn default_page_size(&self) -> Option<u32> {
        None
    }
    fn connect(
        &self,
        cfg: &SourceConfig,
        transport: Transport,
    ) -> Result<Box<dyn SourceClient>, ApiError> {
        Ok(Box::new(client::Client::new(cfg, transport)?))
    }
    fn sim_router(&self, state: Arc<SimState>) -> Router {
        sim::server::router(state)
    }
    fn sim_credentials(&self, seed: u64) -> Vec<(String, String)> {
        sim::server::credentials(seed)
    }
    fn sim_source_toml(&self, name: &str, base_url: &str) -> String {
        sim::server::source_toml(name, base_url)
    }
    fn emit_items(&self, world: &World, findings: &[&SimFinding]) -> Vec<Value> {
        sim::emit::items(world, findings)
    }
    fn emit_list_body(&self, items: Vec<Value>) -> Value {
        sim::emit::list_body(items)
    }
    fn emit_native_id(&self, world: &World, f: &SimFinding) -> String {
        sim::emit::native_id(world, f)
    }
}
