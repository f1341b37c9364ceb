//! Small named values kept between runs (the console's "last looked at" time).

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

impl Store {
    pub fn get_value(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT value FROM kv WHERE key = ?", [key], |r| r.get(0))
            .optional()?)
    }

    pub fn set_value(&mut self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO kv (key, value) VALUES (?, ?) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_overwrite() {
        let mut s = Store::open_in_memory().unwrap();
        assert_eq!(s.get_value("k").unwrap(), None);
        s.set_value("k", "1").unwrap();
        s.set_value("k", "2").unwrap();
        assert_eq!(s.get_value("k").unwrap().as_deref(), Some("2"));
    }
}
