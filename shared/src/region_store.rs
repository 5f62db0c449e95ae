//! The loaded region tree in the database (`regions`, migration 3): what `PUT /api/v1/regions`
//! stores and what every region check reads. While nothing is loaded, the tree the app ships
//! (`RegionTree::panzhihua_demo()`: the six real codes and the synthetic demo townships) stands
//! in, so a fresh install works. Rows are only added or renamed, never removed.

use crate::regions::{LoadReport, Region, RegionCode, RegionTree};
use crate::storage::{Sql, SqlValue, StorageError};
use chrono::{DateTime, SecondsFormat, Utc};
use std::collections::BTreeSet;

/// Whether any region has been loaded.
const ANY_LOADED: &str = "SELECT EXISTS (SELECT 1 FROM regions)";
/// Every loaded region, parents before children.
const SELECT_ALL: &str = "SELECT code, name, parent_code FROM regions ORDER BY code";
/// The direct children of a region.
const SELECT_CHILDREN: &str = "SELECT code, name, parent_code,
    EXISTS (SELECT 1 FROM regions c WHERE c.parent_code = r.code) AS has_children
    FROM regions r WHERE parent_code = ? ORDER BY code";
/// The regions without a parent (the city, and counties outside it loaded as roots).
const SELECT_ROOTS: &str = "SELECT code, name, parent_code,
    EXISTS (SELECT 1 FROM regions c WHERE c.parent_code = r.code) AS has_children
    FROM regions r WHERE parent_code IS NULL ORDER BY code";
/// Add a region or rename it; its parent never changes (it is implied by the code).
const UPSERT: &str = "INSERT INTO regions (code, name, parent_code, loaded_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (code) DO UPDATE SET name = excluded.name, loaded_at = excluded.loaded_at
    WHERE name <> excluded.name";

/// The whole loaded tree, or the shipped one when none is loaded.
pub fn load_tree(db: &dyn Sql) -> Result<RegionTree, StorageError> {
    if !any_loaded(db)? {
        return Ok(RegionTree::panzhihua_demo());
    }
    tree_of_query(db, SELECT_ALL, &[])
}

/// The part of the loaded tree a few codes need to be checked: the codes themselves and their
/// ancestors (a handful of rows instead of the whole tree on every form submission). Malformed
/// codes are skipped: their parser reports them.
pub fn tree_for_codes<'a>(db: &dyn Sql, codes: impl IntoIterator<Item = &'a str>) -> Result<RegionTree, StorageError> {
    let mut wanted = BTreeSet::new();
    for text in codes {
        let Ok(parsed) = RegionCode::parse(text) else { continue };
        let mut code = Some(parsed.value);
        while let Some(c) = code {
            wanted.insert(c.as_str().to_owned());
            code = c.parent_code();
        }
    }
    if wanted.is_empty() {
        return Ok(RegionTree::new());
    }
    if !any_loaded(db)? {
        return Ok(RegionTree::panzhihua_demo_part(&wanted));
    }
    let placeholders = vec!["?"; wanted.len()].join(",");
    let sql = format!("SELECT code, name, parent_code FROM regions WHERE code IN ({placeholders}) ORDER BY code");
    let params: Vec<SqlValue> = wanted.into_iter().map(SqlValue::from).collect();
    tree_of_query(db, &sql, &params)
}

/// The children of `parent` (or the roots), each with whether it has children of its own, from
/// the loaded tree or the shipped one.
pub fn children(db: &dyn Sql, parent: Option<RegionCode>) -> Result<Vec<(Region, bool)>, StorageError> {
    if !any_loaded(db)? {
        let tree = RegionTree::panzhihua_demo();
        let list: Vec<Region> = match parent {
            Some(p) => tree.children(p).cloned().collect(),
            None => tree.roots().cloned().collect(),
        };
        return Ok(list.into_iter().map(|r| (tree.children(r.code).next().is_some(), r)).map(|(c, r)| (r, c)).collect());
    }
    let rows = match parent {
        Some(p) => db.execute(SELECT_CHILDREN, &[p.as_str().into()])?,
        None => db.execute(SELECT_ROOTS, &[])?,
    };
    rows.iter()
        .map(|r| {
            let (code, name, parent) = row_triple(&r)?;
            let region =
                Region { code: parse_stored(&code)?, name, parent: parent.as_deref().map(parse_stored).transpose()? };
            Ok((region, r.get::<bool>("has_children")?))
        })
        .collect()
}

/// Loads a region file on top of the stored tree (the six real codes when nothing is loaded yet)
/// in the caller's transaction. Nothing is written when any row is refused: the report lists
/// every refused row, and the file can be fixed and sent again.
pub fn load_csv(db: &dyn Sql, bytes: &[u8], now: DateTime<Utc>) -> Result<Result<LoadReport, crate::error::FieldError>, StorageError> {
    let mut tree = if any_loaded(db)? { load_tree(db)? } else { RegionTree::panzhihua() };
    let report = match tree.load_csv_bytes(bytes) {
        Ok(report) => report,
        Err(e) => return Ok(Err(e)),
    };
    if report.errors.is_empty() {
        let at = now.to_rfc3339_opts(SecondsFormat::Millis, true);
        for r in tree.iter() {
            db.exec(UPSERT, &[r.code.as_str().into(), r.name.as_str().into(), r.parent.map(|p| p.to_string()).into(), at.as_str().into()])?;
        }
    }
    Ok(Ok(report))
}

fn any_loaded(db: &dyn Sql) -> Result<bool, StorageError> {
    Ok(db.execute(ANY_LOADED, &[])?.scalar::<bool>()?.unwrap_or(false))
}

fn row_triple(r: &crate::storage::Row<'_>) -> Result<(String, String, Option<String>), StorageError> {
    Ok((r.get("code")?, r.get("name")?, r.get("parent_code")?))
}

fn parse_stored(code: &str) -> Result<RegionCode, StorageError> {
    RegionCode::parse(code).map(|p| p.value).map_err(|_| StorageError::Corrupt(format!("regions: code {code}")))
}

/// The tree of the stored rows a query selects (checked when they were loaded, and again on
/// the way in, as every region is).
fn tree_of_query(db: &dyn Sql, sql: &str, params: &[SqlValue]) -> Result<RegionTree, StorageError> {
    let rows = db.execute(sql, params)?.iter().map(|r| row_triple(&r)).collect::<Result<Vec<_>, _>>()?;
    Ok(RegionTree::from_rows(rows).0)
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;
    use crate::storage::native::NativeSql;
    use crate::storage::SqlExt;

    fn code(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap().value
    }

    #[test]
    fn the_shipped_tree_stands_in_until_one_is_loaded() {
        let db = NativeSql::open_in_memory().unwrap();
        let roots = children(&db, None).unwrap();
        assert_eq!((roots[0].0.code.as_str(), roots[0].1), ("510400", true));
        assert_eq!(children(&db, Some(code("510400"))).unwrap().len(), 5);
        assert!(load_tree(&db).unwrap().get(code("510402001")).is_some());
    }

    #[test]
    fn a_loaded_file_replaces_the_demo_tree_and_keeps_codes() {
        let db = NativeSql::open_in_memory().unwrap();
        let now = Utc::now();
        let csv = "code,name,parent_code\n510402001,炳草岗街道,510402\n510402001001,新华社区,510402001\n510100,成都市,\n";
        let report = db.transaction(|tx| load_csv(tx, csv.as_bytes(), now)).unwrap().unwrap();
        assert_eq!((report.added, report.errors.len()), (3, 0));
        let tree = load_tree(&db).unwrap();
        assert_eq!(tree.name(code("510402001")), Some("炳草岗街道"));
        assert!(tree.get(code("510402002")).is_none(), "the demo tree is no longer used");
        let part = tree_for_codes(&db, ["510402001001", "bad"]).unwrap();
        assert!(part.parse_known("510402001001").is_ok());
        assert!(part.parse_known("510403").is_err());

        let bad = "code,name,parent_code\n510402002,新街道,510402\n510402009001,孤儿社区,510402009\n";
        let report = db.transaction(|tx| load_csv(tx, bad.as_bytes(), now)).unwrap().unwrap();
        assert_eq!(report.errors.len(), 1);
        assert!(load_tree(&db).unwrap().get(code("510402002")).is_none(), "nothing is written when a row is refused");

        let rename = "code,name,parent_code\n510402001,炳草岗街道办事处,510402\n";
        let report = db.transaction(|tx| load_csv(tx, rename.as_bytes(), now)).unwrap().unwrap();
        assert_eq!((report.updated, report.added), (1, 0));
        assert_eq!(children(&db, Some(code("510402"))).unwrap()[0].0.name, "炳草岗街道办事处");
        assert_eq!(load_tree(&db).unwrap().len(), 9);
    }
}
