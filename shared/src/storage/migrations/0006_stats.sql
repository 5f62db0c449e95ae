-- Statistics (issue 7): the daily snapshot of the city and county figures behind the trend, and
-- the index the uninsured-units list needs (units that no hrss enrollment names as employer).

-- One row per China-time day, attribution and region (the city and each county): the figures of
-- DOMAIN section 7 as the overview reports them (JSON), rewritten by a cron tick whenever the data
-- version has moved on since, so each day keeps its closing figures.
CREATE TABLE stats_snapshots (
    day TEXT NOT NULL,
    attribute TEXT NOT NULL CHECK (attribute IN ('hukou', 'residence')),
    region TEXT NOT NULL,
    figures TEXT NOT NULL,
    data_version INTEGER NOT NULL,
    taken_at TEXT NOT NULL,
    PRIMARY KEY (region, attribute, day)
) WITHOUT ROWID;

CREATE INDEX enrollments_by_employer ON enrollments (employer_credit_code, source)
    WHERE employer_credit_code IS NOT NULL;
