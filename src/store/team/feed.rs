//! The change feed's ordering rule: seq order is commit order.
//!
//! Seqs come from `nextval('change_seq')` inside write transactions. Without more, a
//! transaction that took seq 10 may commit after one that took seq 11, and a replica pulling
//! in between advances its cursor to 11 and never sees 10. So every transaction that writes a
//! pulled table (alerts, history, decisions, approvals, tickets) calls [`change_lock`] as its
//! FIRST statement: the writers then take seqs and commit one at a time, and a snapshot that
//! sees seq N sees every seq below it. (PostgreSQL releases a transaction-level lock after
//! the commit is visible, so the next holder's seqs are always later.)
//!
//! Why first: a transaction that locked an alert row (`SELECT … FOR UPDATE`) and then waited
//! for this lock could deadlock with the holder waiting for that row. Taken first, every row
//! lock on pulled tables is taken under this lock, and writers never wait on each other in
//! two places. The audit chain's lock (`audit::AUDIT_LOCK`) is only ever taken after this one.
//! A BEFORE … FOR EACH STATEMENT trigger on the pulled tables (migrations/0001_team.sql) takes
//! the same lock as a safety net for a write that forgot; re-taking it is a no-op.

use super::TeamError;

/// The advisory lock every writer of a pulled table holds until it commits ("change" in
/// ASCII; the trigger in 0001_team.sql spells the same number).
pub const CHANGE_LOCK: i64 = 0x6368_616e_6765;

/// Take [`CHANGE_LOCK`] for the rest of the caller's transaction. Call it as the
/// transaction's first statement (see the module comment). A transaction, not a client: the
/// lock would end with an autocommit statement.
pub async fn change_lock(tx: &tokio_postgres::Transaction<'_>) -> Result<(), TeamError> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CHANGE_LOCK])
        .await?;
    Ok(())
}

/// A read-only transaction on one snapshot (`REPEATABLE READ`): with every writer holding
/// [`CHANGE_LOCK`], what it sees up to its newest seq is complete, and queries in it agree.
pub async fn snapshot(
    client: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>, TeamError> {
    Ok(client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await?)
}

#[cfg(test)]
mod tests {
    use super::CHANGE_LOCK;

    #[test]
    fn the_trigger_takes_the_same_lock_as_the_code() {
        let sql = include_str!("migrations/0001_team.sql");
        let line = format!("pg_advisory_xact_lock({CHANGE_LOCK});");
        assert!(sql.contains(&line), "0001_team.sql must take {line}");
    }
}
