-- Department file intake (issue 4): the details of the batch report that have no column of their
-- own, uploads in parts, the record keys seen in a batch (in-file duplicates and first touches of
-- a person or unit, committed with the rows), and the state of each pulled feed.

-- {"rejected_by_reason":{…},"corrections_by_kind":{…},"new_units":n,"updated_units":n}
ALTER TABLE batches ADD COLUMN detail TEXT NOT NULL DEFAULT '{}';
-- Uploads in parts: the number of parts announced and the SHA-256 the whole must have
-- (status 'receiving' until complete; sha256 holds 'pending:<id>' until then).
ALTER TABLE batches ADD COLUMN parts_expected INTEGER;

-- Keys seen in a batch so far: r:<record key> (duplicates in file), p:<id> (persons touched),
-- u:<unit key> (units touched). Deleted when the batch is done.
CREATE TABLE batch_keys (
    batch_id TEXT NOT NULL,
    key TEXT NOT NULL,
    PRIMARY KEY (batch_id, key)
) WITHOUT ROWID;

-- Uploads in parts, raw bytes as they arrive, until the whole is complete and verified.
CREATE TABLE batch_uploads (
    batch_id TEXT NOT NULL,
    part_no INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (batch_id, part_no)
) WITHOUT ROWID;

-- Feeds pulled on each scheduled run: validators of the last fetch and the last failure.
CREATE TABLE intake_feeds (
    url TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    last_checked_at TEXT,
    last_status TEXT,
    last_error TEXT,
    last_batch_id TEXT
);
