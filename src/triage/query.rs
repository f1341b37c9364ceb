//! Placeholder for the filter language (being written on a branch; replaced on merge).
use std::ops::Range;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct QueryError {
    pub term: usize,
    pub span: Range<usize>,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct Query {
    empty: bool,
}

pub fn parse(input: &str) -> Result<Query, QueryError> {
    if input.trim().is_empty() {
        Ok(Query { empty: true })
    } else {
        Err(QueryError {
            term: 0,
            span: 0..input.len(),
            message: "filters not built yet".into(),
        })
    }
}

impl Query {
    pub fn is_empty(&self) -> bool {
        self.empty
    }

    pub fn to_sql(
        &self,
        _now_ms: i64,
    ) -> Result<(String, Vec<rusqlite::types::Value>), QueryError> {
        Ok(("1".into(), Vec::new()))
    }
}
