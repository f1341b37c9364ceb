//! The console: sitrep's interactive screen, in the model / view / runtime split.
//!
//! - [`model`]: the state and its one `update(state, msg) -> effects` (no I/O, never awaits).
//! - [`view`]: drawing, one function from the state to a frame.
//! - [`runtime`]: the terminal, the event loop, and the threads and tasks that run the effects
//!   (the store worker, the outbox, narration) and feed their results back.
//! - [`team_refresh`]: team mode's one refresher per source (lead, publish, take over).
//! - [`start`]: opening a database and running the console on it (`sitrep`, and the console half
//!   of `sitrep demo`; the simulators it starts stay on the CLI side, so nothing here needs `sim`).
//!
//! Arrows point down only: runtime → view → model. Nothing here imports `crate::cli`.

pub mod model;
pub mod runtime;
pub mod start;
pub mod team_refresh;
pub mod view;
