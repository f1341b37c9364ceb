-- Narratives written by a model, cached per (alert content, prompt version, model), and a
-- record of every model call for the audit log. Offline narratives are not cached: they are
-- rebuilt instantly from the alert.
CREATE TABLE narratives (
    content_hash    TEXT NOT NULL,                 -- alerts.content_hash when narrated
    prompt_version  TEXT NOT NULL,
    model           TEXT NOT NULL,                 -- provider/model@host
    alert_id        TEXT NOT NULL,
    narrative_json  TEXT NOT NULL,                 -- validated, sanitized; secrets never present
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (content_hash, prompt_version, model)
) WITHOUT ROWID;
CREATE INDEX narratives_by_alert ON narratives (alert_id);

CREATE TABLE llm_calls (
    id               INTEGER PRIMARY KEY,
    at               INTEGER NOT NULL,
    alert_id         TEXT NOT NULL,
    provider         TEXT NOT NULL,
    model            TEXT NOT NULL,
    prompt_version   TEXT NOT NULL,
    prompt_sha256    TEXT NOT NULL,
    response_sha256  TEXT NOT NULL,
    redactions_json  TEXT NOT NULL,                -- {"AWS": 2, "JWT": 1}
    redaction_total  INTEGER NOT NULL,
    latency_ms       INTEGER NOT NULL,
    outcome          TEXT NOT NULL                 -- ok | invalid: … | canary | error: …
);
CREATE INDEX llm_calls_by_alert ON llm_calls (alert_id, at);
