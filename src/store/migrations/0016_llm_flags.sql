-- What the reply checks flagged in a model call (issue 21, part 3), one row per llm_calls row
-- written since: a JSON array of labels such as "echo summary < resource.name",
-- "disposition summary: false positive", "command actions[2]: exfiltration", "ungrounded: 3".
-- Kinds, narrative parts and alert field names only, never the alert's or the model's text.
-- A side table (not a column) so the migration can run again on a database a test took back
-- to an older layout; calls recorded before it read as [].
CREATE TABLE IF NOT EXISTS llm_call_flags (
    call_id     INTEGER PRIMARY KEY,              -- llm_calls.id
    flags_json  TEXT NOT NULL
);
