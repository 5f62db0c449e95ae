//! Schema migrations: numbered `.sql` files compiled into the crate and applied in order, each in
//! its own transaction, recorded in `schema_migrations`. Every backend runs [`migrate`] when it
//! opens a database, so a fresh `spin up` (or a fresh test database) gets the whole schema and an
//! existing one only what it lacks. Files are split into single statements here because Spin's
//! SQLite interface executes one statement per call.

use super::{Sql, SqlValue, StorageError};

/// One numbered schema change.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number; applied in ascending order, recorded once applied.
    pub version: i64,
    /// A short name, from the file name.
    pub name: &'static str,
    /// The SQL text (several statements).
    pub sql: &'static str,
    /// Whether it runs inside a transaction (`PRAGMA journal_mode` cannot).
    pub transactional: bool,
}

/// Every migration, in order. Add new ones at the end with the next number; never edit an applied one.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "journal",
        sql: include_str!("migrations/0001_journal.sql"),
        transactional: false,
    },
    Migration {
        version: 2,
        name: "base_schema",
        sql: include_str!("migrations/0002_base_schema.sql"),
        transactional: true,
    },
    Migration {
        version: 3,
        name: "regions",
        sql: include_str!("migrations/0003_regions.sql"),
        transactional: true,
    },
    Migration {
        version: 4,
        name: "intake",
        sql: include_str!("migrations/0004_intake.sql"),
        transactional: true,
    },
    Migration {
        version: 5,
        name: "intake_parts",
        sql: include_str!("migrations/0005_intake_parts.sql"),
        transactional: true,
    },
    Migration {
        version: 6,
        name: "stats",
        sql: include_str!("migrations/0006_stats.sql"),
        transactional: true,
    },
    Migration {
        version: 7,
        name: "audit_insert_only",
        sql: include_str!("migrations/0007_audit_insert_only.sql"),
        transactional: true,
    },
    Migration {
        version: 8,
        name: "intake_chunks",
        sql: include_str!("migrations/0008_intake_chunks.sql"),
        transactional: true,
    },
    Migration {
        version: 9,
        name: "provenance_per_person",
        sql: include_str!("migrations/0009_provenance_per_person.sql"),
        transactional: true,
    },
    Migration {
        version: 10,
        name: "stats_derived",
        sql: include_str!("migrations/0010_stats_derived.sql"),
        transactional: true,
    },
    Migration {
        version: 11,
        name: "idempotency_in_registrations",
        sql: include_str!("migrations/0011_idempotency_in_registrations.sql"),
        transactional: true,
    },
];

/// Per-connection settings (not stored in the file, unlike WAL mode): every backend runs these,
/// best-effort, when it opens a connection. `synchronous=NORMAL` with WAL measured about 8× faster writes.
pub(crate) const CONNECTION_PRAGMAS: &[&str] = &["PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=5000"];

const CREATE_LEDGER: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL
)";
const SELECT_APPLIED: &str = "SELECT version FROM schema_migrations ORDER BY version";
const SELECT_COUNT_APPLIED: &str = "SELECT count(*) FROM schema_migrations WHERE version <= ?";
const SELECT_ONE_APPLIED: &str = "SELECT 1 FROM schema_migrations WHERE version = ?";
const RECORD_APPLIED: &str = "INSERT OR IGNORE INTO schema_migrations (version, name, applied_at)
    VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))";

/// Applies every migration the database lacks; returns how many were applied (0 when current).
/// Safe to run concurrently from several instances: each migration re-checks its version inside
/// its `BEGIN IMMEDIATE` transaction.
pub fn migrate(db: &dyn Sql) -> Result<usize, StorageError> {
    // Every request opens the database: one statement tells a current schema (the usual case).
    if is_current(db) {
        return Ok(0);
    }
    db.exec(CREATE_LEDGER, &[])?;
    let applied: Vec<i64> = db.execute(SELECT_APPLIED, &[])?.column(0)?;
    let mut count = 0;
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let fail = |e: StorageError| StorageError::Migration { version: m.version, name: m.name, message: e.to_string() };
        if m.transactional {
            db.exec("BEGIN IMMEDIATE", &[]).map_err(fail)?;
            let result = apply(db, m);
            match result {
                Ok(true) => {
                    db.exec("COMMIT", &[]).map_err(fail)?;
                    count += 1;
                }
                Ok(false) => db.exec("ROLLBACK", &[]).map_err(fail)?,
                Err(e) => {
                    let _ = db.exec("ROLLBACK", &[]);
                    return Err(fail(e));
                }
            }
        } else if apply(db, m).map_err(fail)? {
            count += 1;
        }
    }
    Ok(count)
}

/// Whether every migration is recorded as applied (false on any error: a fresh database has no ledger).
fn is_current(db: &dyn Sql) -> bool {
    let latest = MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0);
    let applied = db.execute(SELECT_COUNT_APPLIED, &[SqlValue::Integer(latest)]);
    matches!(applied.and_then(|rows| rows.column::<i64>(0)).as_deref(), Ok([n]) if *n == MIGRATIONS.len() as i64)
}

/// Runs one migration's statements and records it, unless another instance already did.
fn apply(db: &dyn Sql, m: &Migration) -> Result<bool, StorageError> {
    if !db.execute(SELECT_ONE_APPLIED, &[SqlValue::Integer(m.version)])?.is_empty() {
        return Ok(false);
    }
    for statement in split_statements(m.sql) {
        match db.exec(&statement, &[]) {
            // PRAGMAs here are performance settings; a backend that refuses them (a remote
            // libSQL behind runtime-config.toml) still has a correct schema without them.
            Err(_) if is_pragma(&statement) => {}
            result => result?,
        }
    }
    db.exec(RECORD_APPLIED, &[SqlValue::Integer(m.version), SqlValue::from(m.name)])?;
    Ok(true)
}

/// Whether a statement is a PRAGMA (best-effort everywhere in storage).
pub(crate) fn is_pragma(statement: &str) -> bool {
    statement.trim_start().get(..6).is_some_and(|w| w.eq_ignore_ascii_case("PRAGMA"))
}

/// Splits SQL text into single statements at `;`, respecting quotes, comments (dropped), and
/// the `BEGIN … END` bodies of `CREATE TRIGGER` and `CASE … END` expressions.
pub fn split_statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    let mut word = String::new();
    let mut first_word: Option<String> = None;
    let mut is_trigger = false;
    let mut depth = 0u32;
    let mut chars = sql.chars().peekable();

    // Called at each word boundary outside quotes and comments.
    let end_word = |word: &mut String, first: &mut Option<String>, trig: &mut bool, depth: &mut u32| {
        if word.is_empty() {
            return;
        }
        let w = word.to_ascii_uppercase();
        if first.is_none() {
            *first = Some(w.clone());
        }
        match w.as_str() {
            "TRIGGER" if first.as_deref() == Some("CREATE") => *trig = true,
            "BEGIN" if *trig => *depth += 1,
            "CASE" => *depth += 1,
            "END" if *depth > 0 => *depth -= 1,
            _ => {}
        }
        word.clear();
    };

    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' | '[' => {
                end_word(&mut word, &mut first_word, &mut is_trigger, &mut depth);
                let close = if c == '[' { ']' } else { c };
                current.push(c);
                while let Some(d) = chars.next() {
                    current.push(d);
                    if d == close {
                        // A doubled quote is an escaped quote inside the literal.
                        if close != ']' && chars.peek() == Some(&close) {
                            current.push(chars.next().unwrap());
                            continue;
                        }
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                end_word(&mut word, &mut first_word, &mut is_trigger, &mut depth);
                for d in chars.by_ref() {
                    if d == '\n' {
                        break;
                    }
                }
                current.push('\n');
            }
            '/' if chars.peek() == Some(&'*') => {
                end_word(&mut word, &mut first_word, &mut is_trigger, &mut depth);
                chars.next();
                let mut prev = ' ';
                for d in chars.by_ref() {
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
                current.push(' ');
            }
            ';' => {
                end_word(&mut word, &mut first_word, &mut is_trigger, &mut depth);
                if depth == 0 {
                    let s = current.trim();
                    if !s.is_empty() {
                        statements.push(s.to_owned());
                    }
                    current.clear();
                    first_word = None;
                    is_trigger = false;
                } else {
                    current.push(c);
                }
            }
            c if c.is_alphanumeric() || c == '_' => {
                word.push(c);
                current.push(c);
            }
            c => {
                end_word(&mut word, &mut first_word, &mut is_trigger, &mut depth);
                current.push(c);
            }
        }
    }
    end_word(&mut word, &mut first_word, &mut is_trigger, &mut depth);
    let s = current.trim();
    if !s.is_empty() {
        statements.push(s.to_owned());
    }
    statements
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_semicolons_outside_quotes_comments_and_trigger_bodies() {
        let sql = "-- a comment; with a semicolon\n\
            CREATE TABLE a (x TEXT DEFAULT 'a;b', \"we;ird\" INT); /* c; */\n\
            CREATE TRIGGER t BEFORE UPDATE ON a BEGIN SELECT RAISE(ABORT, 'no; never'); \
            SELECT CASE WHEN 1 THEN 2 END; END;\n\
            INSERT INTO a VALUES ('it''s;');\n  ";
        let parts = split_statements(sql);
        assert_eq!(parts.len(), 3, "{parts:#?}");
        assert!(parts[0].starts_with("CREATE TABLE a"));
        assert!(parts[1].starts_with("CREATE TRIGGER t") && parts[1].ends_with("END"));
        assert_eq!(parts[2], "INSERT INTO a VALUES ('it''s;')");
    }

    #[test]
    fn every_migration_splits_into_statements() {
        for m in MIGRATIONS {
            let parts = split_statements(m.sql);
            assert!(!parts.is_empty(), "migration {} is empty", m.version);
            assert!(parts.iter().all(|p| !p.ends_with(';')));
        }
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
        assert!(is_pragma("  pragma journal_mode=WAL") && !is_pragma("SELECT 1") && !is_pragma("PRAG"));
    }
}
