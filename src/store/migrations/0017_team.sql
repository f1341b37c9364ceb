-- Issue 20: this store as a replica of a team's PostgreSQL store (store/replica.rs,
-- docs/team.md). In team mode `assignee` is the claim's holder.
ALTER TABLE alerts ADD COLUMN claim_until INTEGER;                 -- the claim lapses then
ALTER TABLE alerts ADD COLUMN team_version INTEGER NOT NULL DEFAULT 0; -- the team row's version last pulled
-- A publisher sends what changed since its cursor, in (changed_at, id) order.
CREATE INDEX alerts_changed ON alerts (changed_at, id);

-- Decisions made in team mode, journaled here (durably) before they are sent, so that a
-- crash or an unreachable team store loses none: pending rows are sent again, in order, with
-- the same decision_id (the team store applies an id once). A row whose alert someone else
-- changed meanwhile becomes a conflict for the analyst to resolve, never applied over theirs.
CREATE TABLE team_journal (
    id           INTEGER PRIMARY KEY,
    decision_id  TEXT NOT NULL UNIQUE,
    alert_id     TEXT NOT NULL,
    base_version INTEGER NOT NULL,                 -- the team version the analyst decided on
    at           INTEGER NOT NULL,
    action       TEXT NOT NULL,
    body         TEXT NOT NULL,                    -- the decision as JSON
    state        TEXT NOT NULL DEFAULT 'pending',  -- pending | sent | conflict | discarded
    detail       TEXT                              -- a conflict: what the team store holds
);
CREATE INDEX team_journal_state ON team_journal (state, id);
