pub mod query;
pub mod intel;
pub mod score;
pub mod correlate;
pub mod paths;
pub mod suppress;
