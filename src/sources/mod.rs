//! Vendor payloads → the normalized model. One module per vendor.
//!
//! Each vendor module exposes `map(body) -> Result<Vec<Alert>, MapError>`, which accepts the
//! vendor's list response body and a single item, and `sniff(body) -> Option<&'static str>`,
//! which says what a body looks like ("a Wiz GraphQL issues response") when it is this vendor's,
//! so that a file given under the wrong `--vendor` gets a useful error.
//!
//! This layer never touches the terminal, the store or the network.

pub mod api;
#[cfg(test)]
pub(crate) mod corpus;
pub mod cortex_xdr;
pub mod json;
pub mod lacework;
pub mod orca;
pub mod page;
pub mod prisma_compute;
pub mod prisma_cspm;
pub mod sync;
pub mod wiz;

use serde_json::Value;

use crate::domain::{Alert, Vendor};
pub use page::{Page, map_page};

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

/// Map a vendor payload (list body or single item) to alerts whose `source` is `source`.
///
/// On a shape error, the other vendors' sniffers are asked what the body looks like, so the
/// message can say "this looks like a Wiz GraphQL response, not prisma-cspm".
pub fn map_payload(vendor: Vendor, source: &str, body: &Value) -> Result<Vec<Alert>, MapError> {
    let result = match vendor {
        Vendor::PrismaCspm => prisma_cspm::map(body),
        Vendor::PrismaCompute => prisma_compute::map(body),
        Vendor::Wiz => wiz::map(body),
        Vendor::Lacework => lacework::map(body),
        Vendor::Orca => orca::map(body),
        Vendor::CortexXdr => cortex_xdr::map(body),
    };
    match result {
        Ok(mut alerts) => {
            for a in &mut alerts {
                a.source = source.to_string();
            }
            Ok(alerts)
        }
        Err(MapError::Shape { .. }) if sniff_other(vendor, body).is_some() => {
            Err(MapError::WrongVendor {
                looks_like: sniff_other(vendor, body).unwrap_or("another vendor's payload"),
                expected: vendor.as_str(),
            })
        }
        Err(e) => Err(e),
    }
}

/// What the body looks like, asking every vendor but `except`.
pub fn sniff_other(except: Vendor, body: &Value) -> Option<&'static str> {
    Vendor::ALL
        .into_iter()
        .filter(|v| *v != except)
        .find_map(|v| sniff(v, body))
}

/// What the body looks like if it is `vendor`'s.
pub fn sniff(vendor: Vendor, body: &Value) -> Option<&'static str> {
    match vendor {
        Vendor::PrismaCspm => prisma_cspm::sniff(body),
        Vendor::PrismaCompute => prisma_compute::sniff(body),
        Vendor::Wiz => wiz::sniff(body),
        Vendor::Lacework => lacework::sniff(body),
        Vendor::Orca => orca::sniff(body),
        Vendor::CortexXdr => cortex_xdr::sniff(body),
    }
}
