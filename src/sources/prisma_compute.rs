//! Placeholder until the mapper lands (replaced in this same change).
use serde_json::Value;

use super::MapError;
use crate::domain::Alert;

pub fn map(_body: &Value) -> Result<Vec<Alert>, MapError> {
    Err(MapError::Shape {
        vendor: "prisma_compute",
        detail: "mapper not written yet".into(),
    })
}

pub fn sniff(_body: &Value) -> Option<&'static str> {
    None
}
