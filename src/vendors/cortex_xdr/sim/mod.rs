//! The Cortex XDR simulator: `emit.rs` (findings of the world in Cortex XDR's payload shape) and
//! `server.rs` (its API on loopback, over the shared `sim::server` machinery).

pub mod emit;
pub mod server;
