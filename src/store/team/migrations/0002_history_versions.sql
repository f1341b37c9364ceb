-- sitrep team store, version 2: each analyst history line records the alert's version it
-- made, so a replayed decision is checked against every change made after the version it
-- was decided on, by anyone other than its own analyst (src/store/team/decisions.rs).
-- Lines that made no version (system lines: deliveries, ticket status) and lines written
-- before this migration are NULL and never count as someone else's change.
ALTER TABLE history ADD COLUMN version bigint;
