-- Issue 22 part 5: the team that owns each alert (store/owners.rs, docs/owners.md).
-- NULL: not computed yet (the next pass fills it); '': computed, no rule names a team.
-- Written only by the owner pass, from the resource's tags, account and the [owners] rules;
-- recomputed in full when those rules change (fingerprint in triage_meta).
ALTER TABLE alerts ADD COLUMN owner TEXT;
CREATE INDEX alerts_owner ON alerts (owner COLLATE NOCASE);
