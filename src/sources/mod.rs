//! What every vendor shares, below `vendors/`: the forgiving JSON accessors (`json`), list
//! replies parsed for item-by-item mapping (`page`), the client kit (`api`: transport,
//! session, `ApiError`, `Window`, `WriteBack`, the `SourceClient` trait) and the sync engine
//! (`sync`), which is handed a way to connect a client instead of naming the vendors.
//!
//! Nothing here imports `vendors/`: a vendor's mapper, client and simulator live in
//! `vendors/<v>/`, and `vendors::kit(v)` is the one place that picks them by vendor.

pub mod api;
pub mod check;
#[cfg(test)]
pub(crate) mod corpus;
pub mod json;
pub mod page;
pub mod stream;
pub mod sync;

pub use page::{ItemPaths, Page, map_items};

/// Why a payload could not be mapped. Messages are one line and name what was wrong.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MapError {
    /// The body is not any shape this vendor's mapper accepts.
    #[error("not a {vendor} payload: {detail}")]
    Shape {
        vendor: &'static str,
        detail: String,
    },
    /// The body is recognisably another vendor's.
    #[error("this looks like {looks_like}, not {expected}")]
    WrongVendor {
        looks_like: &'static str,
        expected: &'static str,
    },
    /// The body is this vendor's, but a related response that carries no alerts.
    #[error("this is {what}, which carries no alerts to import")]
    NotAlerts { what: &'static str },
    /// One item of a list could not be mapped.
    #[error("item {index}: {detail}")]
    Item { index: usize, detail: String },
}
