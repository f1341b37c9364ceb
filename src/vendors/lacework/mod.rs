//! Lacework: the mapper (`map.rs`), the API client (`client.rs`) and the simulator
//! (`sim/`), handed to the registry as one [`KIT`].

pub mod client;
pub mod map;
pub mod push;
pub mod sim;
pub mod webhook;

use super::{VendorKit, no_churn};
use crate::domain::Vendor;

/// Lacework's kit.
pub const KIT: VendorKit = super::vendor_kit!(Vendor::Lacework, page_size: None, churn: no_churn,
    write_backs: &["status", "comment"], refuse_write_back: super::writable);
