-- Uploads in parts (issue 4): announced, then filled part by part into batch_uploads, then
-- completed with the SHA-256 of the whole and queued as a batch under the same id.
CREATE TABLE part_uploads (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    file_name TEXT,
    parts INTEGER NOT NULL CHECK (parts > 0),
    uploaded_by TEXT,
    created_at TEXT NOT NULL
);
