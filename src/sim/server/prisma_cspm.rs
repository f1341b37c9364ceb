//! Placeholder until this vendor's simulator lands (replaced in this same change).
use std::sync::Arc;

use axum::Router;

use super::SimState;

pub fn router(_state: Arc<SimState>) -> Router {
    Router::new()
}

pub fn credentials(_seed: u64) -> Vec<(String, String)> {
    Vec::new()
}

pub fn source_toml(name: &str, base_url: &str) -> String {
    format!("[[source]]\nname = \"{name}\"\nvendor = \"prisma_cspm\"\nbase_url = \"{base_url}\"\n")
}
