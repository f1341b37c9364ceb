pub mod compliance;
pub mod correlate;
pub mod intel;
pub mod owner;
pub mod paths;
pub mod query;
pub mod score;
pub mod suppress;
