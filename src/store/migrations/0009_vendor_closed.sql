-- sitrep store, version 9: the queue is what still needs someone (issue 23). An alert the
-- vendor closed while it was still `new` or `acknowledged` here takes the vendor's outcome as
-- its status, set by sitrep itself (history actor 'sitrep'); an analyst's own status is never
-- overwritten. These two columns let that be undone when the vendor reopens the alert.

ALTER TABLE alerts ADD COLUMN followed_at INTEGER;  -- when sitrep set the status because the vendor closed it (NULL: not so; an analyst's decision clears it)
ALTER TABLE alerts ADD COLUMN reopened_at INTEGER;  -- when the vendor reopened an alert whose status had followed it: resurfaced until an analyst decides

-- "N closed at the vendor since you last looked" counts by followed_at, over alerts that were
-- open here first (a first sight already closed is not news): the partial index holds just
-- those, with both columns, so the count reads index entries only.
CREATE INDEX alerts_followed ON alerts (followed_at, imported_at) WHERE followed_at > imported_at;

-- Existing databases: vendor-closed alerts still `new` follow the vendor now, with the same
-- history entry an import writes (audited as a system action once a keyed store opens:
-- store/closed.rs, audit_system_changes).
INSERT INTO history (alert_id, at, actor, kind, from_status, to_status, reason, note)
SELECT id, CAST(unixepoch('subsec') * 1000 AS INTEGER), 'sitrep', 'status', 'new',
       CASE vendor_status WHEN 'dismissed' THEN 'dismissed' ELSE 'resolved' END,
       CASE vendor_status WHEN 'dismissed' THEN 'other' ELSE 'vendor_closed' END,
       'closed at the vendor (' || vendor_status || ' there)'
FROM alerts
WHERE status = 'new' AND vendor_status IN ('resolved', 'dismissed')
ORDER BY rowid;

UPDATE alerts SET
    status = CASE vendor_status WHEN 'dismissed' THEN 'dismissed' ELSE 'resolved' END,
    status_reason = CASE vendor_status WHEN 'dismissed' THEN 'other' ELSE 'vendor_closed' END,
    status_note = 'closed at the vendor (' || vendor_status || ' there)',
    status_until = NULL,
    followed_at = CAST(unixepoch('subsec') * 1000 AS INTEGER)
WHERE status = 'new' AND vendor_status IN ('resolved', 'dismissed');
