//! Placeholder until the emitter lands (replaced in this same change).
use serde_json::Value;

use crate::sim::world::{SimFinding, World};

pub fn items(_world: &World, _findings: &[&SimFinding]) -> Vec<Value> {
    Vec::new()
}

pub fn list_body(items: Vec<Value>) -> Value {
    Value::Array(items)
}

pub fn native_id(_world: &World, f: &SimFinding) -> String {
    f.seq.to_string()
}
