//! The audit log through the store: its key, appends in their own durable transaction, and
//! the reads `sitrep audit` needs. The chain itself lives in [`crate::audit`].

use rusqlite::TransactionBehavior;

use super::{Store, StoreError};
use crate::audit::{self, AuditEntry, AuditKey, HeadFile, StoredEntry, VerifyReport};

impl Store {
    /// Give the store the audit key: from now on its own writes that must be audited (model
    /// calls, statuses that followed the vendor) append entries, and [`Store::audit_append`]
    /// works.
    pub fn set_audit_key(&mut self, k: AuditKey) {
        self.audit_key = Some(k);
        // Status changes sitrep made itself while no key was at hand (a migration, an unkeyed
        // sync) are audited now; a failure leaves them for the next keyed open.
        if let Err(e) = self.audit_pending_system_changes() {
            tracing::warn!("audit of system status changes: {e}");
        }
    }

    pub fn audit_key(&self) -> Option<&AuditKey> {
        self.audit_key.as_ref()
    }

    fn require_key(&self) -> Result<&AuditKey, StoreError> {
        self.audit_key
            .as_ref()
            .ok_or_else(|| StoreError::Invalid("no audit key is set on the store".into()))
    }

    /// Append one entry in its own `IMMEDIATE` transaction, committed with
    /// `synchronous=FULL`, then bring the head file up to date. Returns the entry's seq.
    pub fn audit_append(&mut self, e: &AuditEntry<'_>) -> Result<i64, StoreError> {
        self.require_key()?;
        let Store {
            conn,
            audit_key,
            path,
            ..
        } = self;
        let Some(key) = audit_key.as_ref() else {
            return Err(StoreError::Invalid(
                "no audit key is set on the store".into(),
            ));
        };
        let seq = audit::with_full_sync(conn, |conn| -> Result<i64, StoreError> {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let seq = audit::append(&tx, key, e)?;
            tx.commit()?;
            Ok(seq)
        })?;
        audit::write_head(path, conn, key)?;
        Ok(seq)
    }

    /// Check the whole log with the store's key.
    pub fn audit_verify(&self) -> Result<VerifyReport, StoreError> {
        let key = self.require_key()?;
        Ok(audit::verify(&self.path, &self.conn, key)?)
    }

    /// Entries from seq `since` on (all when None), oldest first.
    pub fn audit_entries(&self, since: Option<i64>) -> Result<Vec<StoredEntry>, StoreError> {
        Ok(audit::entries(&self.conn, since)?)
    }

    /// Visit entries from seq `since` on, oldest first, without holding them all.
    pub fn audit_for_each(
        &self,
        since: Option<i64>,
        f: impl FnMut(StoredEntry) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        audit::for_each_entry(&self.conn, since, f)
    }

    /// Entries in the log (the last seq).
    pub fn audit_count(&self) -> Result<i64, StoreError> {
        Ok(audit::count(&self.conn)?)
    }

    /// The head file beside the database (Missing for an in-memory store).
    pub fn audit_head(&self) -> Result<HeadFile, StoreError> {
        match audit::head_path(&self.path) {
            Some(p) => Ok(audit::head::read(&p)?),
            None => Ok(HeadFile::Missing),
        }
    }
}
