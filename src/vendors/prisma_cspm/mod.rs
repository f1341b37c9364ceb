//! Prisma Cloud CSPM: the mapper (`map.rs`), the API client (`client.rs`) and the simulator
//! (`sim/`), handed to the registry as one [`KIT`].

pub mod client;
pub mod map;
pub mod push;
pub mod sim;
pub mod webhook;

use super::{VendorKit, no_churn};
use crate::domain::Vendor;

/// Prisma Cloud CSPM's kit.
pub const KIT: VendorKit = super::vendor_kit!(Vendor::PrismaCspm, page_size: Some(client::DEFAULT_PAGE_SIZE), churn: no_churn);
