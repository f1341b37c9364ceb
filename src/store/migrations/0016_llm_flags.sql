-- What the reply checks flagged in a model call (issue 21, part 3): a JSON array of labels such
-- as "echo summary < resource.name", "disposition summary: false positive",
-- "command actions[2]: exfiltration", "ungrounded: 3". Kinds, narrative parts and alert field
-- names only, never the alert's or the model's text. Rows written before this migration: [].
ALTER TABLE llm_calls ADD COLUMN flags_json TEXT NOT NULL DEFAULT '[]';
