-- Fast figures (issue 7): what every figure of DOMAIN section 7 needs about a person, in one
-- index entry, kept exact by the database itself.
--
-- persons.active_mask: the schemes the person has an `active` enrollment in, one bit per scheme
-- (110 → 1, 120 → 2, 170 → 4, 210 → 8, 310 → 16, 390 → 32, 410 → 64, 510 → 128; the order of
-- codes::Scheme::ALL, checked by figures.rs' tests). Triggers on enrollments recompute the
-- person's mask whenever an enrollment row of theirs appears, disappears or changes scheme or
-- status, and a trigger on persons computes it for a row inserted after its enrollments, so no
-- writer has to know about it.
--
-- The two region indexes become covering indexes of the figures query: attribution region,
-- person_status, registered, complete, active_mask and missing_fields. The figures are then one
-- range scan of one index, grouped in index order (no table row is read, no enrollment probed).
-- They replace the old region indexes instead of adding to them, so a person write maintains as
-- many indexes as before.

DROP INDEX IF EXISTS persons_by_region_hukou;
DROP INDEX IF EXISTS persons_by_region_residence;

ALTER TABLE persons ADD COLUMN active_mask INTEGER NOT NULL DEFAULT 0;

-- Backfill before the indexes exist, so the update writes table pages only.
UPDATE persons SET active_mask = (
    SELECT SUM(CASE e.scheme WHEN '110' THEN 1 WHEN '120' THEN 2 WHEN '170' THEN 4 WHEN '210' THEN 8
        WHEN '310' THEN 16 WHEN '390' THEN 32 WHEN '410' THEN 64 WHEN '510' THEN 128 ELSE 0 END)
    FROM enrollments e WHERE e.id_number = persons.id_number AND e.status = 'active')
WHERE id_number IN (SELECT id_number FROM enrollments WHERE status = 'active');

CREATE INDEX persons_by_region_hukou
    ON persons (region_hukou, person_status, registered, complete, active_mask, missing_fields);
CREATE INDEX persons_by_region_residence
    ON persons (region_residence, person_status, registered, complete, active_mask, missing_fields);

-- A new or changed active enrollment, or one no longer active: recompute the person's mask
-- (written only when it changes, so re-delivered files cost no index write).
CREATE TRIGGER enrollments_active_mask_insert AFTER INSERT ON enrollments
WHEN NEW.status = 'active'
BEGIN
    UPDATE persons SET active_mask = (
        SELECT COALESCE(SUM(CASE e.scheme WHEN '110' THEN 1 WHEN '120' THEN 2 WHEN '170' THEN 4 WHEN '210' THEN 8
            WHEN '310' THEN 16 WHEN '390' THEN 32 WHEN '410' THEN 64 WHEN '510' THEN 128 ELSE 0 END), 0)
        FROM enrollments e WHERE e.id_number = NEW.id_number AND e.status = 'active')
    WHERE id_number = NEW.id_number;
END;

CREATE TRIGGER enrollments_active_mask_update AFTER UPDATE OF id_number, scheme, status ON enrollments
WHEN (OLD.status = 'active' OR NEW.status = 'active')
    AND (OLD.status IS NOT NEW.status OR OLD.scheme IS NOT NEW.scheme OR OLD.id_number IS NOT NEW.id_number)
BEGIN
    UPDATE persons SET active_mask = (
        SELECT COALESCE(SUM(CASE e.scheme WHEN '110' THEN 1 WHEN '120' THEN 2 WHEN '170' THEN 4 WHEN '210' THEN 8
            WHEN '310' THEN 16 WHEN '390' THEN 32 WHEN '410' THEN 64 WHEN '510' THEN 128 ELSE 0 END), 0)
        FROM enrollments e WHERE e.id_number = persons.id_number AND e.status = 'active')
    WHERE id_number IN (OLD.id_number, NEW.id_number);
END;

CREATE TRIGGER enrollments_active_mask_delete AFTER DELETE ON enrollments
WHEN OLD.status = 'active'
BEGIN
    UPDATE persons SET active_mask = (
        SELECT COALESCE(SUM(CASE e.scheme WHEN '110' THEN 1 WHEN '120' THEN 2 WHEN '170' THEN 4 WHEN '210' THEN 8
            WHEN '310' THEN 16 WHEN '390' THEN 32 WHEN '410' THEN 64 WHEN '510' THEN 128 ELSE 0 END), 0)
        FROM enrollments e WHERE e.id_number = OLD.id_number AND e.status = 'active')
    WHERE id_number = OLD.id_number;
END;

-- A person row written after its enrollments (or re-inserted, or renumbered) gets its mask.
CREATE TRIGGER persons_active_mask_insert AFTER INSERT ON persons
WHEN EXISTS (SELECT 1 FROM enrollments e WHERE e.id_number = NEW.id_number AND e.status = 'active')
BEGIN
    UPDATE persons SET active_mask = (
        SELECT SUM(CASE e.scheme WHEN '110' THEN 1 WHEN '120' THEN 2 WHEN '170' THEN 4 WHEN '210' THEN 8
            WHEN '310' THEN 16 WHEN '390' THEN 32 WHEN '410' THEN 64 WHEN '510' THEN 128 ELSE 0 END)
        FROM enrollments e WHERE e.id_number = NEW.id_number AND e.status = 'active')
    WHERE rowid = NEW.rowid;
END;

CREATE TRIGGER persons_active_mask_renumber AFTER UPDATE OF id_number ON persons
WHEN OLD.id_number IS NOT NEW.id_number
BEGIN
    UPDATE persons SET active_mask = (
        SELECT COALESCE(SUM(CASE e.scheme WHEN '110' THEN 1 WHEN '120' THEN 2 WHEN '170' THEN 4 WHEN '210' THEN 8
            WHEN '310' THEN 16 WHEN '390' THEN 32 WHEN '410' THEN 64 WHEN '510' THEN 128 ELSE 0 END), 0)
        FROM enrollments e WHERE e.id_number = NEW.id_number AND e.status = 'active')
    WHERE rowid = NEW.rowid;
END;

-- Single flight on a cache miss: the request that claims a figure key at a data version
-- computes it; the others wait for its answer in the cache. A claim runs out at `until` (a
-- request that died leaves nothing stuck).
CREATE TABLE stats_claims (
    key TEXT PRIMARY KEY,
    data_version INTEGER NOT NULL,
    until TEXT NOT NULL
) WITHOUT ROWID;
