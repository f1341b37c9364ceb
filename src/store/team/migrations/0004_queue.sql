-- sitrep team store, version 4: the queue's columns, so `sitrep list --direct` reads the team
-- store itself (filters, orders, keyset pages, counts) without a replica (docs/team.md).
--
-- A publisher fills them from its mapped SQLite row (store/replica.rs `publish_rows`) with
-- every publish. Rows published before this migration have `mapped` false: the next publish
-- from any publisher starts its scan over (team/mod.rs `publish`) and writes them even though
-- their content hash has not changed, so they fill in without anyone re-mapping `raw` here.
--
-- Text comparisons that SQLite makes with BINARY or NOCASE are made here on `COLLATE "C"`
-- (byte order) and lower(), so both backends list in the same order. Tags, CVEs, compliance
-- standards and the text index are kept in the exact forms the filter compares with
-- (lower-cased tags, upper-cased CVE ids, tokens), computed by the publisher.

ALTER TABLE alerts
    ADD COLUMN num           bigint GENERATED ALWAYS AS IDENTITY,  -- `ref` of --direct listings; keyset tiebreaker
    ADD COLUMN mapped        boolean NOT NULL DEFAULT false,      -- the columns below are filled
    ADD COLUMN category      text NOT NULL DEFAULT 'other',
    ADD COLUMN title         text NOT NULL DEFAULT '',
    ADD COLUMN policy_id     text,
    ADD COLUMN policy_name   text,
    ADD COLUMN severity      text NOT NULL DEFAULT 'medium',
    ADD COLUMN resource_id   text,
    ADD COLUMN resource_name text,
    ADD COLUMN resource_type text,
    ADD COLUMN cloud         text,
    ADD COLUMN account       text,
    ADD COLUMN region        text,
    ADD COLUMN tag_keys      text[] NOT NULL DEFAULT '{}',        -- lower(key), ASCII case as SQLite's lower()
    ADD COLUMN tag_pairs     text[] NOT NULL DEFAULT '{}',        -- lower(key) || chr(31) || lower(value)
    ADD COLUMN internet_facing integer,                           -- NULL unknown, 0/1
    ADD COLUMN cve_ids       text NOT NULL DEFAULT '',            -- " CVE-… CVE-… " as in SQLite
    ADD COLUMN cves          text[] NOT NULL DEFAULT '{}',        -- the same ids, one per element
    ADD COLUMN compliance    text[] NOT NULL DEFAULT '{}',        -- ' ' || lower(standard) || ' ' per entry
    ADD COLUMN first_seen    bigint,
    ADD COLUMN last_seen     bigint,
    ADD COLUMN sort_time     bigint NOT NULL DEFAULT 0,
    ADD COLUMN vendor_status text NOT NULL DEFAULT 'open',
    ADD COLUMN has_controls  integer NOT NULL DEFAULT 0,
    ADD COLUMN kev           integer NOT NULL DEFAULT 0,
    ADD COLUMN epss          double precision,
    ADD COLUMN owner         text,                                -- the publisher's owner rules
    ADD COLUMN assignee      text GENERATED ALWAYS AS (claimed_by) STORED,  -- as a replica's `assignee`
    ADD COLUMN changed_at    bigint NOT NULL DEFAULT 0,
    ADD COLUMN fts           tsvector NOT NULL DEFAULT '';        -- title, resource, policy tokens

CREATE UNIQUE INDEX alerts_num ON alerts (num);
-- Rows a publish still has to fill (after this migration, until the next publish).
CREATE INDEX alerts_unmapped ON alerts (id) WHERE NOT mapped;

-- Each order's first page and keyset pages walk an index. The default queue reads the
-- open-queue indexes (every row that can be in it at some time: an open status, or put
-- away until a time), as SQLite's migration 0012; --all reads the full ones or sorts.
CREATE INDEX alerts_q_score ON alerts (score DESC, severity_rank DESC, sort_time DESC, num)
    WHERE status IN ('new','acknowledged','in_progress') OR status_until IS NOT NULL;
CREATE INDEX alerts_q_severity ON alerts (severity_rank DESC, sort_time DESC, num)
    WHERE status IN ('new','acknowledged','in_progress') OR status_until IS NOT NULL;
CREATE INDEX alerts_q_recent ON alerts (sort_time DESC, num)
    WHERE status IN ('new','acknowledged','in_progress') OR status_until IS NOT NULL;
CREATE INDEX alerts_q_oldest ON alerts (coalesce(first_seen, sort_time), num)
    WHERE status IN ('new','acknowledged','in_progress') OR status_until IS NOT NULL;
CREATE INDEX alerts_q_vendor ON alerts ((vendor COLLATE "C"), severity_rank DESC, sort_time DESC, num)
    WHERE status IN ('new','acknowledged','in_progress') OR status_until IS NOT NULL;
CREATE INDEX alerts_q_title ON alerts ((lower(title) COLLATE "C"), num)
    WHERE status IN ('new','acknowledged','in_progress') OR status_until IS NOT NULL;
CREATE INDEX alerts_q_resource ON alerts ((lower(coalesce(resource_name, resource_id, '')) COLLATE "C"), num)
    WHERE status IN ('new','acknowledged','in_progress') OR status_until IS NOT NULL;
CREATE INDEX alerts_q_account ON alerts ((coalesce(account, '') COLLATE "C"), severity_rank DESC, sort_time DESC, num)
    WHERE status IN ('new','acknowledged','in_progress') OR status_until IS NOT NULL;
CREATE INDEX alerts_q_status ON alerts ((status COLLATE "C"), severity_rank DESC, sort_time DESC, num)
    WHERE status IN ('new','acknowledged','in_progress') OR status_until IS NOT NULL;
CREATE INDEX alerts_all_score ON alerts (score DESC, severity_rank DESC, sort_time DESC, num);
CREATE INDEX alerts_all_severity ON alerts (severity_rank DESC, sort_time DESC, num);
CREATE INDEX alerts_all_recent ON alerts (sort_time DESC, num);

-- Selective filters: an account, a tag, a CVE, a word.
CREATE INDEX alerts_account ON alerts (account);
CREATE INDEX alerts_tag_keys ON alerts USING gin (tag_keys);
CREATE INDEX alerts_tag_pairs ON alerts USING gin (tag_pairs);
CREATE INDEX alerts_cves ON alerts USING gin (cves);
CREATE INDEX alerts_fts ON alerts USING gin (fts);
