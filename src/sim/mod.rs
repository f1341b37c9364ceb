//! Simulated vendor tenants: a seeded generator of realistic findings, and (later) loopback
//! servers that speak each vendor's API. Used by `sitrep demo`, the tests and the benches.

pub mod emit;
pub mod rng;
pub mod server;
pub mod world;
