-- Provenance per person instead of per field (issue 4, intake throughput). field_provenance kept
-- one row per field and saying with three indexes, so a new person cost about ten table rows and
-- thirty index entries in randomly keyed B-trees. Now:
--
-- persons.provenance: the current winner of each field, loaded with the person (merge needs it to
-- apply precedence): a JSON array of sayings, each [source, origin, observed_at, [field, ...]]
-- with the fields whose current value it gave.
--
-- person_history: one row per person and saying written (a merge, a staff correction, a resolved
-- conflict): who said it (source, origin, observed_at), when it was recorded, and changes, a JSON
-- array of [field, value] in the order they were set. A field's history is the sequence of its
-- entries in row order, as field_provenance's rows in id order were.
--
-- Existing data is carried over: the current rows of field_provenance become persons.provenance,
-- all its rows (grouped per person, saying and write) become person_history rows in id order.

ALTER TABLE persons ADD COLUMN provenance TEXT NOT NULL DEFAULT '[]';

CREATE TABLE person_history (
    id INTEGER PRIMARY KEY,
    id_number TEXT NOT NULL,
    source TEXT NOT NULL,
    origin TEXT NOT NULL,           -- batch:<id> | receipt:<id> | staff:<name>
    observed_at TEXT NOT NULL,      -- when the source said it
    recorded_at TEXT NOT NULL,      -- when it was written here
    changes TEXT NOT NULL           -- [[field, value], ...]
);

-- (Window functions rather than ORDER BY inside aggregates, which SQLite before 3.44 lacks.)
UPDATE persons SET provenance = (
    SELECT json_group_array(json_array(source, origin, observed_at, json(fields)))
    FROM (
        SELECT source, origin, observed_at, json_group_array(field) AS fields
        FROM field_provenance
        WHERE id_number = persons.id_number AND is_current = 1
        GROUP BY source, origin, observed_at))
WHERE id_number IN (SELECT id_number FROM field_provenance WHERE is_current = 1);

-- Consecutive rows of one person with the same saying and write time were one save; its changes
-- keep the rows' order.
INSERT INTO person_history (id_number, source, origin, observed_at, recorded_at, changes)
SELECT id_number, source, origin, observed_at, recorded_at, changes
FROM (
    SELECT id, id_number, source, origin, observed_at, recorded_at,
        json_group_array(json_array(field, value)) OVER save_rows AS changes,
        row_number() OVER save_rows AS n
    FROM (
        SELECT fp.*, sum(new_save) OVER (ORDER BY id_number, id) AS save
        FROM (
            SELECT id, id_number, field, value, source, origin, observed_at, recorded_at,
                CASE WHEN lag(id_number) OVER w IS id_number AND lag(source) OVER w IS source
                    AND lag(origin) OVER w IS origin AND lag(observed_at) OVER w IS observed_at
                    AND lag(recorded_at) OVER w IS recorded_at THEN 0 ELSE 1 END AS new_save
            FROM field_provenance
            WINDOW w AS (ORDER BY id_number, id)) fp)
    WINDOW save_rows AS (PARTITION BY save ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING))
WHERE n = 1
ORDER BY id;

CREATE INDEX person_history_by_person ON person_history (id_number);

DROP TABLE field_provenance;

-- The 一人多号 search (store::duplicate_candidates_for) reads a person's namesakes from one range
-- of one covering index instead of three indexes (name and birth date, name and ID address code,
-- name and ID sequence number) and their table rows: a new person costs one index entry here
-- instead of three.
DROP INDEX IF EXISTS persons_by_name_key;
DROP INDEX IF EXISTS persons_by_name_and_id_county;
DROP INDEX IF EXISTS persons_by_name_and_id_sequence;
CREATE INDEX persons_by_name ON persons (name_key, id_number, birth_date, gender, region_hukou);
