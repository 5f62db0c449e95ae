//! The audit trail (DOMAIN §8): every read of a full record and every write appends one row to
//! `audit_log` — who (actor and role), when, what (action), which person, and a detail. This is
//! the one function every such path calls, inside its transaction when it has one.
//!
//! The table is append-only (triggers refuse UPDATE and DELETE). The target person is kept by
//! citizen ID because the trail must say whose record was touched; the detail is for field names,
//! reason codes and counts, never values, and is passed through the log redactor in case an
//! identifier slips in.

use crate::auth::Principal;
use crate::ids::CitizenId;
use crate::redact::redact_log;
use crate::storage::{Sql, SqlValue, StorageError};
use crate::store::timestamp;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// A full record was read (`GET /api/v1/persons/{id}`).
pub const PERSON_VIEW: &str = "person.view";
/// The audit trail itself was read (`GET /api/v1/audit`).
pub const AUDIT_READ: &str = "audit.read";
/// A department file was queued as a new batch (a single upload or a completed upload in parts).
pub const INTAKE_UPLOAD: &str = "intake.upload";
/// An upload in parts was begun.
pub const INTAKE_PARTS_BEGIN: &str = "intake.parts_begin";
/// One part of an upload in parts was stored.
pub const INTAKE_PART: &str = "intake.part";
/// Pending intake work was done on request (`POST /api/v1/intake/run`) or on the cron schedule.
pub const INTAKE_RUN: &str = "intake.run";

/// The actor of work the app does on its own schedule (the cron trigger).
pub const SYSTEM_CRON: &str = "system:cron";

const INSERT: &str = "INSERT INTO audit_log (at, actor, role, action, target_person, detail) VALUES (?, ?, ?, ?, ?, ?)";

/// Appends one row: `who` did `action` on `person` at `at`, with a `detail` free of personal data.
pub fn record(
    db: &dyn Sql,
    at: DateTime<Utc>,
    who: &Principal,
    action: &str,
    person: Option<&CitizenId>,
    detail: &Value,
) -> Result<(), StorageError> {
    let role = who.role().map_or("public", |r| r.as_str());
    append(db, at, &who.actor(), role, action, person, detail)
}

/// Appends one row for work nobody asked for over HTTP (role `system`, e.g. [`SYSTEM_CRON`]).
pub fn record_system(
    db: &dyn Sql,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    detail: &Value,
) -> Result<(), StorageError> {
    append(db, at, actor, "system", action, None, detail)
}

fn append(
    db: &dyn Sql,
    at: DateTime<Utc>,
    actor: &str,
    role: &str,
    action: &str,
    person: Option<&CitizenId>,
    detail: &Value,
) -> Result<(), StorageError> {
    let detail = (!detail.is_null()).then(|| redact_log(&detail.to_string()));
    db.exec(
        INSERT,
        &[timestamp(at).into(), actor.into(), role.into(), action.into(), person.map(|p| p.as_str()).into(), detail.into()],
    )
}

/// Which rows to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only rows about this person.
    pub person: Option<CitizenId>,
    /// Only rows by this actor (`role:name`, as written).
    pub actor: Option<String>,
    /// Only rows at or after this time.
    pub since: Option<DateTime<Utc>>,
}

/// One row of the trail.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Its sequence number (ascending with time).
    pub id: i64,
    /// When (RFC 3339 UTC).
    pub at: String,
    /// Who (`role:name`, or `public`).
    pub actor: String,
    /// Their role.
    pub role: String,
    /// What was done (e.g. `person.view`).
    pub action: String,
    /// Whose record.
    pub target_person: Option<String>,
    /// Details (JSON), if any.
    pub detail: Option<Value>,
}

/// One page of the trail, newest first.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    /// The rows of this page.
    pub items: Vec<Entry>,
    /// The page number, from 1.
    pub page: u64,
    /// Rows per page.
    pub page_size: u64,
    /// Rows matching the filter in all.
    pub total: u64,
}

const WHERE: &str = "WHERE (?1 IS NULL OR target_person = ?1) AND (?2 IS NULL OR actor = ?2) AND (?3 IS NULL OR at >= ?3)";

/// The rows matching `filter`, newest first, `page_size` per page (page numbers from 1).
pub fn list(db: &dyn Sql, filter: &Filter, page: u64, page_size: u64) -> Result<Page, StorageError> {
    let params: Vec<SqlValue> = vec![
        filter.person.as_ref().map(|p| p.as_str()).into(),
        filter.actor.as_deref().into(),
        filter.since.map(timestamp).into(),
    ];
    let total = db.execute(&format!("SELECT COUNT(*) FROM audit_log {WHERE}"), &params)?.scalar::<u64>()?.unwrap_or(0);
    let mut paged = params;
    paged.push(SqlValue::Integer(page_size as i64));
    paged.push(SqlValue::Integer((page.saturating_sub(1) * page_size) as i64));
    let rows = db.execute(
        &format!(
            "SELECT id, at, actor, role, action, target_person, detail FROM audit_log {WHERE}
             ORDER BY id DESC LIMIT ?4 OFFSET ?5"
        ),
        &paged,
    )?;
    let items = rows
        .iter()
        .map(|r| {
            Ok(Entry {
                id: r.get("id")?,
                at: r.get("at")?,
                actor: r.get("actor")?,
                role: r.get("role")?,
                action: r.get("action")?,
                target_person: r.get("target_person")?,
                detail: r.get::<Option<String>>("detail")?.map(|d| serde_json::from_str(&d).unwrap_or(Value::String(d))),
            })
        })
        .collect::<Result<Vec<_>, StorageError>>()?;
    Ok(Page { items, page, page_size, total })
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;
    use crate::auth::{AccessTokens, Principal};
    use crate::storage::native::NativeSql;
    use chrono::TimeZone;
    use serde_json::json;

    fn staff() -> Principal {
        let tokens = AccessTokens::from_json(&format!(
            r#"[{{"sha256":"{}","role":"staff","region":"510402","name":"王"}}]"#,
            crate::auth::token_hash("t")
        ))
        .unwrap();
        let mut req = crate::api::Request::new("GET", "/");
        req.headers.push(("authorization".into(), "Bearer t".into()));
        tokens.authenticate(&req).unwrap()
    }

    #[test]
    fn rows_are_appended_filtered_and_paged_newest_first() {
        let db = NativeSql::open_in_memory().unwrap();
        let id = CitizenId::from_parts("510402", chrono::NaiveDate::from_ymd_opt(1980, 1, 2).unwrap(), 7);
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 8, 0, 0).unwrap();
        for i in 0..3 {
            let at = t0 + chrono::Duration::minutes(i);
            record(&db, at, &staff(), PERSON_VIEW, Some(&id), &json!({"n": i})).unwrap();
        }
        record(&db, t0, &Principal::Public, "registration.submit", None, &Value::Null).unwrap();

        let all = list(&db, &Filter::default(), 1, 2).unwrap();
        assert_eq!((all.total, all.items.len()), (4, 2));
        assert_eq!(all.items[0].action, "registration.submit");
        let mine = list(&db, &Filter { person: Some(id), ..Default::default() }, 1, 10).unwrap();
        assert_eq!(mine.total, 3);
        assert_eq!(mine.items[0].actor, "staff:王");
        assert_eq!(mine.items[0].role, "staff");
        assert_eq!(mine.items[0].detail, Some(json!({"n": 2})));
        let later = Filter { since: Some(t0 + chrono::Duration::minutes(1)), ..Default::default() };
        assert_eq!(list(&db, &later, 1, 10).unwrap().total, 2);
        let by_actor = Filter { actor: Some("public".into()), ..Default::default() };
        assert_eq!(list(&db, &by_actor, 1, 10).unwrap().items[0].target_person, None);
        assert_eq!(list(&db, &Filter::default(), 3, 2).unwrap().items.len(), 0);
    }

    #[test]
    fn rows_cannot_be_replaced_changed_removed_or_written_incomplete() {
        let db = NativeSql::open_in_memory().unwrap();
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 8, 0, 0).unwrap();
        record(&db, at, &staff(), PERSON_VIEW, None, &Value::Null).unwrap();
        record_system(&db, at, SYSTEM_CRON, INTAKE_RUN, &json!({"rows": 3})).unwrap();
        let refused = |sql: &str| db.exec(sql, &[]).unwrap_err().to_string();
        assert!(refused("UPDATE audit_log SET actor = 'x'").contains("append-only"));
        assert!(refused("DELETE FROM audit_log WHERE id = 1").contains("append-only"));
        let replace = "INTO audit_log (id, at, actor, role, action) VALUES (1, '2026-01-02T00:00:00.000Z', 'a', 'admin', 'x')";
        assert!(refused(&format!("REPLACE {replace}")).contains("append-only"));
        assert!(refused(&format!("INSERT OR REPLACE {replace}")).contains("append-only"));
        let upsert = "INSERT INTO audit_log (id, at, actor, role, action) VALUES (1, '2026-01-02T00:00:00.000Z', 'a', 'admin', 'x')
            ON CONFLICT (id) DO UPDATE SET actor = 'a'";
        assert!(refused(upsert).contains("append-only"));
        for (at, actor, action) in [("yesterday", "a", "x"), ("2026-01-02T00:00:00Z", " ", "x"), ("2026-01-02T00:00:00Z", "a", "")] {
            let sql = "INSERT INTO audit_log (at, actor, role, action) VALUES (?, ?, 'admin', ?)";
            assert!(db.exec(sql, &[at.into(), actor.into(), action.into()]).is_err(), "{at} {actor} {action}");
        }
        let page = list(&db, &Filter::default(), 1, 10).unwrap();
        assert_eq!(page.total, 2);
        assert_eq!((page.items[0].actor.as_str(), page.items[0].role.as_str()), (SYSTEM_CRON, "system"));
        assert_eq!(page.items[1].actor, "staff:王");
    }

    #[test]
    fn identifiers_in_the_detail_are_redacted() {
        let db = NativeSql::open_in_memory().unwrap();
        record(&db, Utc::now(), &Principal::Public, "x", None, &json!({"note": "phone 13812345678"})).unwrap();
        let page = list(&db, &Filter::default(), 1, 1).unwrap();
        assert!(!page.items[0].detail.as_ref().unwrap().to_string().contains("13812345678"));
    }
}
