-- The base database of DOMAIN.md: one row per resident with the current value of every
-- indicator field, where each value came from, enrollments, units, conflicts, duplicate
-- candidates, intake batches, registrations, the audit trail and bookkeeping.
-- Dates are ISO text (YYYY-MM-DD), times RFC 3339 UTC text, codes as in DOMAIN.md section 3.

-- One row per citizen ID: the merged record. The attributed regions are precomputed per DOMAIN
-- section 7 (region_hukou: hukou, else residence, else the ID's address code; region_residence:
-- residence, else hukou, else the ID) so that every figure is one query over this table. Figures
-- for region R use the range  region_hukou >= 'R' AND region_hukou < 'R+1'  (or LIKE 'R%').
-- registered / complete / missing_fields are maintained on every save (store.rs).
CREATE TABLE persons (
    id_number TEXT PRIMARY KEY,
    name TEXT,
    name_key TEXT,
    gender TEXT,
    ethnicity TEXT,
    birth_date TEXT,
    hukou_address TEXT,
    hukou_region TEXT,
    residence_address TEXT,
    residence_region TEXT,
    phone TEXT,
    employment_status TEXT,
    employer_name TEXT,
    employer_credit_code TEXT,
    person_status TEXT NOT NULL DEFAULT 'normal'
        CHECK (person_status IN ('normal', 'deceased', 'moved_out')),
    person_status_date TEXT,
    uninsured_reason TEXT,
    willingness TEXT,
    -- schemes a resident or grid worker declared on a form (JSON list); enrollments proper come
    -- only from hrss/health, but a declaration fills the "scheme or uninsured reason" field.
    declared_insurance TEXT NOT NULL DEFAULT '[]',
    flag_minimum_living INTEGER NOT NULL DEFAULT 0,
    flag_extreme_poverty INTEGER NOT NULL DEFAULT 0,
    flag_student INTEGER NOT NULL DEFAULT 0,
    flag_deceased INTEGER NOT NULL DEFAULT 0,
    via_form INTEGER NOT NULL DEFAULT 0,
    region_hukou TEXT NOT NULL,
    region_residence TEXT NOT NULL,
    registered INTEGER NOT NULL DEFAULT 0,
    complete INTEGER NOT NULL DEFAULT 0,
    missing_fields TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX persons_by_region_hukou
    ON persons (region_hukou, person_status, registered, complete);
CREATE INDEX persons_by_region_residence
    ON persons (region_residence, person_status, registered, complete);
CREATE INDEX persons_by_name_key ON persons (name_key, birth_date);
-- Deaths and moves (benefits after death); partial so that figures use the region indexes.
CREATE INDEX persons_not_normal ON persons (person_status, person_status_date)
    WHERE person_status <> 'normal';

-- Where each field value came from. Exactly one row per person and field is current (the value
-- in persons); older rows are the field's history.
CREATE TABLE field_provenance (
    id INTEGER PRIMARY KEY,
    id_number TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT,
    source TEXT NOT NULL,
    origin TEXT NOT NULL,           -- batch:<id> | receipt:<id> | staff:<name>
    observed_at TEXT NOT NULL,      -- when the source said it
    recorded_at TEXT NOT NULL,      -- when it was written here
    is_current INTEGER NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX field_provenance_current
    ON field_provenance (id_number, field) WHERE is_current = 1;
CREATE INDEX field_provenance_history ON field_provenance (id_number, field, id);
CREATE INDEX field_provenance_by_origin ON field_provenance (origin);

-- One enrollment per person and scheme (from hrss or health only).
CREATE TABLE enrollments (
    id_number TEXT NOT NULL,
    scheme TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'suspended', 'terminated')),
    since TEXT,
    region TEXT,
    employer_credit_code TEXT,
    source TEXT NOT NULL CHECK (source IN ('hrss', 'health')),
    origin TEXT NOT NULL,
    observed_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (id_number, scheme)
) WITHOUT ROWID;
CREATE INDEX enrollments_by_scheme_status ON enrollments (scheme, status, id_number);
CREATE INDEX enrollments_by_status ON enrollments (status, id_number);

-- Units (参保单位), keyed by credit code, else organisation code.
CREATE TABLE units (
    unit_key TEXT PRIMARY KEY,
    credit_code TEXT UNIQUE,
    org_code TEXT,
    name TEXT,
    status TEXT,
    address TEXT,
    headcount INTEGER,
    sources TEXT NOT NULL DEFAULT '[]',   -- JSON list of {source, origin, observed_at}
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX units_by_org_code ON units (org_code);

-- Disagreements between sources for review. candidates is a JSON list of
-- {value, sources:[{source, origin, at}]}; at most one open conflict per person and field.
CREATE TABLE conflicts (
    id INTEGER PRIMARY KEY,
    id_number TEXT NOT NULL,
    field TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    candidates TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    resolved_at TEXT,
    resolved_by TEXT,
    resolved_value TEXT,
    reason TEXT
);
CREATE UNIQUE INDEX conflicts_one_open ON conflicts (id_number, field) WHERE status = 'open';
CREATE INDEX conflicts_by_person ON conflicts (id_number, status);
CREATE INDEX conflicts_by_status ON conflicts (status, field, id);

-- One person, several numbers (一人多号): candidate pairs for review, never merged automatically.
CREATE TABLE duplicate_candidates (
    id INTEGER PRIMARY KEY,
    id_a TEXT NOT NULL,
    id_b TEXT NOT NULL,
    rule TEXT NOT NULL CHECK (rule IN ('same_details', 'similar_id')),
    status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'confirmed', 'dismissed')),
    detected_at TEXT NOT NULL,
    reviewed_at TEXT,
    reviewed_by TEXT,
    note TEXT,
    CHECK (id_a < id_b),
    UNIQUE (id_a, id_b, rule)
);
CREATE INDEX duplicate_candidates_by_b ON duplicate_candidates (id_b);
CREATE INDEX duplicate_candidates_by_status ON duplicate_candidates (status, id);

-- Department files. The counts are the batch report of the HTTP contract; cursor is how far
-- processing got (committed with the data it covers); the lease keeps two workers apart.
CREATE TABLE batches (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    file_name TEXT,
    sha256 TEXT NOT NULL UNIQUE,
    format TEXT NOT NULL,
    size_bytes INTEGER NOT NULL DEFAULT 0,
    uploaded_by TEXT,
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'processing', 'done', 'failed')),
    rows_total INTEGER NOT NULL DEFAULT 0,
    rows_processed INTEGER NOT NULL DEFAULT 0,
    accepted INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0,
    new_persons INTEGER NOT NULL DEFAULT 0,
    updated_persons INTEGER NOT NULL DEFAULT 0,
    corrections INTEGER NOT NULL DEFAULT 0,
    conflicts INTEGER NOT NULL DEFAULT 0,
    duplicates_in_file INTEGER NOT NULL DEFAULT 0,
    cursor TEXT,
    lease_owner TEXT,
    lease_expires_at TEXT,
    error TEXT,
    arrived_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX batches_by_status ON batches (status, arrived_at);
CREATE INDEX batches_by_source ON batches (source, arrived_at);

-- A batch's raw bytes in parts (a SQLite value is kept well below its size limit).
CREATE TABLE batch_parts (
    batch_id TEXT NOT NULL,
    part_no INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (batch_id, part_no)
) WITHOUT ROWID;

-- The batch error report: line (header = line 1; XLSX: sheet row), column, reason code, message.
CREATE TABLE batch_row_errors (
    id INTEGER PRIMARY KEY,
    batch_id TEXT NOT NULL,
    line INTEGER NOT NULL,
    column_name TEXT,
    reason TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX batch_row_errors_by_batch ON batch_row_errors (batch_id, line);

-- Registrations from the forms (self or survey); the receipt id is what the submitter keeps.
CREATE TABLE registrations (
    receipt_id TEXT PRIMARY KEY,
    id_number TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('self', 'survey')),
    actor TEXT,
    idempotency_key TEXT,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX registrations_by_person ON registrations (id_number, created_at);
CREATE UNIQUE INDEX registrations_by_idempotency_key
    ON registrations (idempotency_key) WHERE idempotency_key IS NOT NULL;

-- The audit trail: every read of a full record and every write. Append-only.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    target_person TEXT,
    detail TEXT
);
CREATE INDEX audit_log_by_person ON audit_log (target_person, at);
CREATE INDEX audit_log_by_actor ON audit_log (actor, at);
CREATE INDEX audit_log_by_at ON audit_log (at);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- Small named values: data_version counts committed changes to the base data, so cached
-- figures in KV know when they are stale.
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('data_version', '0');

-- When scheduled work ran, per component (the dashboard shows the last tick).
CREATE TABLE cron_ticks (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    component TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX cron_ticks_by_component ON cron_ticks (component, at);
