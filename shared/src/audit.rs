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
    let detail = (!detail.is_null()).then(|| redact_log(&detail.to_string()));
    db.exec(
        INSERT,
        &[
            timestamp(at).into(),
            who.actor().into(),
            role.into(),
            action.into(),
            person.map(|p| p.as_str()).into(),
            detail.into(),
        ],
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
    fn identifiers_in_the_detail_are_redacted() {
        let db = NativeSql::open_in_memory().unwrap();
        record(&db, Utc::now(), &Principal::Public, "x", None, &json!({"note": "phone 13812345678"})).unwrap();
        let page = list(&db, &Filter::default(), 1, 1).unwrap();
        assert!(!page.items[0].detail.as_ref().unwrap().to_string().contains("13812345678"));
    }
}
