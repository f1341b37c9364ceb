//! The Prisma Cloud Compute simulator: `emit.rs` (findings of the world in Prisma Cloud Compute's payload shape) and
//! `server.rs` (its API on loopback, over the shared `sim::server` machinery).

pub mod emit;
pub mod server;
