-- Typed vendor attack paths: the mappers now type a vendor's own attack-path hint
-- (`domain::VendorPath`) and the store keeps it inside `attack_json` as
--   {"context": <the vendor context, or null>, "vendor_path": {"kind": ..., "name": ...}}.
-- Rows written before carry only the context; this wraps those that held a hint, with the
-- rules the mappers apply (vendors/wiz, vendors/prisma_cspm, vendors/orca map.rs), so that
-- triage, which reads only the typed hint, sees old databases as it did. Runs once.

-- Wiz: a toxic combination, named by its rule (else the title).
UPDATE alerts SET attack_json = json_object(
    'context', json(attack_json),
    'vendor_path', json_object(
        'kind', 'wiz_toxic_combination',
        'name', CASE WHEN json_type(attack_json, '$.rule.name') = 'text'
                     THEN json_extract(attack_json, '$.rule.name') ELSE title END))
WHERE json_valid(attack_json)
  AND json_type(attack_json, '$.issueType') = 'text'
  AND upper(json_extract(attack_json, '$.issueType')) = 'TOXIC_COMBINATION';

-- Prisma Cloud: an attack-path policy (by type or label), named by the policy (else the title).
UPDATE alerts SET attack_json = json_object(
    'context', json(attack_json),
    'vendor_path', json_object(
        'kind', 'prisma_attack_path_policy',
        'name', CASE WHEN json_type(attack_json, '$.policyName') = 'text'
                     THEN json_extract(attack_json, '$.policyName') ELSE title END))
WHERE json_valid(attack_json)
  AND json_type(attack_json, '$.vendor_path') IS NULL
  AND ((json_type(attack_json, '$.policyType') = 'text'
        AND lower(json_extract(attack_json, '$.policyType')) = 'attack_path')
       OR (json_type(attack_json, '$.labels') = 'array'
           AND EXISTS (SELECT 1 FROM json_each(attack_json, '$.labels') AS l
                       WHERE l.type = 'text' AND lower(l.value) = 'attack path rule')));

-- Orca: blast-radius context, named by the title.
UPDATE alerts SET attack_json = json_object(
    'context', json(attack_json),
    'vendor_path', json_object('kind', 'orca_blast_radius', 'name', title))
WHERE json_valid(attack_json)
  AND json_type(attack_json, '$.vendor_path') IS NULL
  AND json_type(attack_json, '$.blast_radius') IS NOT NULL;

-- Orca: an alert titled as an attack path.
UPDATE alerts SET attack_json = json_object(
    'context', json(attack_json),
    'vendor_path', json_object('kind', 'orca_attack_path', 'name', title))
WHERE vendor = 'orca'
  AND lower(title) LIKE '%attack path%'
  AND (attack_json IS NULL
       OR (json_valid(attack_json) AND json_type(attack_json, '$.vendor_path') IS NULL));
