pub mod ask;
pub mod correlate;
pub mod intel;
pub mod paths;
pub mod query;
pub mod score;
pub mod suppress;
