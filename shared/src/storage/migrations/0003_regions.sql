-- The loaded region tree (PUT /api/v1/regions): townships and communities are data, loaded from
-- CSV `code,name,parent_code` and checked by RegionTree. Rows are only ever added or renamed,
-- never removed, because persons, enrollments and tokens keep referring to codes once in use.
-- While the table is empty the app uses the tree it ships (the six real Panzhihua codes and the
-- synthetic demo townships and communities).
CREATE TABLE regions (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    parent_code TEXT,
    loaded_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX regions_by_parent ON regions (parent_code, code);
