//! The door-to-door list (入户调查名单) of DOMAIN §7: for a region, the target persons not yet
//! registered plus the registered persons whose record is not complete, each with what is
//! missing, sorted by community and address so a grid worker can walk it. Exports as JSON, CSV
//! (UTF-8 with BOM, which is what makes Excel on Windows read Chinese correctly) and XLSX with
//! Chinese headers.

use crate::figures::Attribute;
use crate::masking::{mask_id, mask_phone};
use crate::person::Field;
use crate::regions::{RegionCode, RegionTree};
use crate::storage::{Sql, StorageError};
use serde::Serialize;

/// The list's rows for one attribution column; ?1/?2 the index range of the region's codes, ?3
/// and ?4 the LIMIT and OFFSET of a page (-1 and 0 for the whole list).
/// Every target person (`normal`) who is not both registered and complete.
fn door_to_door_sql(attribute: Attribute) -> String {
    let col = attribute.column();
    format!(
        "SELECT {col}, COALESCE(NULLIF(residence_address, ''), hukou_address, '') AS address, name, id_number, phone,
                registered, missing_fields
         FROM persons
         WHERE {col} >= ?1 AND {col} < ?2 AND person_status = 'normal' AND NOT (registered = 1 AND complete = 1)
         ORDER BY {col}, address, id_number
         LIMIT ?3 OFFSET ?4"
    )
}

/// How long the list is, and how many on it are unregistered: one range of the covering region
/// index (migration 0010), no row read.
fn door_to_door_count_sql(attribute: Attribute) -> String {
    let col = attribute.column();
    format!(
        "SELECT COUNT(*), COALESCE(SUM(registered = 0), 0)
         FROM persons
         WHERE {col} >= ?1 AND {col} < ?2 AND person_status = 'normal' AND NOT (registered = 1 AND complete = 1)"
    )
}

/// Why a person is on the list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// 未登记: in the target population, no enrollment and no form.
    Unregistered,
    /// 信息不全: registered, some mandatory field missing.
    Incomplete,
}

impl Reason {
    /// As the exports write it.
    pub fn name_zh(self) -> &'static str {
        match self {
            Reason::Unregistered => "未登记",
            Reason::Incomplete => "信息不全",
        }
    }
}

/// One person to visit.
#[derive(Debug, Clone, Serialize)]
pub struct WorkItem {
    /// The community (or the finest region known) the person is attributed to.
    pub community_code: String,
    /// Its name, when the region tree has it.
    pub community_name: Option<String>,
    /// Residence address, else hukou address.
    pub address: String,
    /// Name as held.
    pub name: Option<String>,
    /// Citizen ID (masked for collectors).
    pub id_number: String,
    /// Phone (masked for collectors).
    pub phone: Option<String>,
    /// Unregistered or incomplete.
    pub reason: Reason,
    /// The mandatory fields the record lacks (field names).
    pub missing_fields: Vec<String>,
}

impl WorkItem {
    /// The missing fields in Chinese, `、`-separated.
    pub fn missing_zh(&self) -> String {
        self.missing_fields
            .iter()
            .map(|f| Field::parse(f).map(Field::name_zh).unwrap_or(f.as_str()))
            .collect::<Vec<_>>()
            .join("、")
    }
}

/// How much of a person's identifiers a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Bureau staff and admins: in full.
    Full,
    /// Grid workers (collectors): name and address to find the person, ID and phone masked
    /// (DOMAIN §8); they collect both again on the form.
    Masked,
}

/// The door-to-door list of `region`, in walking order.
pub fn door_to_door_list(
    db: &dyn Sql,
    tree: &RegionTree,
    attribute: Attribute,
    region: RegionCode,
    detail: Detail,
) -> Result<Vec<WorkItem>, StorageError> {
    door_to_door_rows(db, tree, attribute, region, detail, None)
}

/// The length of a door-to-door list and how it splits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ListTotals {
    /// Rows on the whole list.
    pub total: u64,
    /// Of which unregistered.
    pub unregistered: u64,
    /// Of which registered but incomplete.
    pub incomplete: u64,
}

/// The totals of `region`'s door-to-door list (what a page is out of).
pub fn door_to_door_totals(db: &dyn Sql, attribute: Attribute, region: RegionCode) -> Result<ListTotals, StorageError> {
    let prefix = region.area_prefix();
    let rows = db.execute(&door_to_door_count_sql(attribute), &[prefix.into(), format!("{prefix}:").into()])?;
    let row = rows.first().ok_or_else(|| StorageError::from_message("COUNT returned no row"))?;
    let total = row.get::<i64>(0)? as u64;
    let unregistered = row.get::<i64>(1)? as u64;
    Ok(ListTotals { total, unregistered, incomplete: total - unregistered })
}

/// One page (1-based) of `region`'s door-to-door list, in walking order.
pub fn door_to_door_page(
    db: &dyn Sql,
    tree: &RegionTree,
    attribute: Attribute,
    region: RegionCode,
    detail: Detail,
    page: u64,
    page_size: u64,
) -> Result<Vec<WorkItem>, StorageError> {
    let offset = page.saturating_sub(1).saturating_mul(page_size);
    door_to_door_rows(db, tree, attribute, region, detail, Some((page_size, offset)))
}

fn door_to_door_rows(
    db: &dyn Sql,
    tree: &RegionTree,
    attribute: Attribute,
    region: RegionCode,
    detail: Detail,
    window: Option<(u64, u64)>,
) -> Result<Vec<WorkItem>, StorageError> {
    let prefix = region.area_prefix();
    let (limit, offset) = match window {
        Some((limit, offset)) => (i64::try_from(limit).unwrap_or(i64::MAX), i64::try_from(offset).unwrap_or(i64::MAX)),
        None => (-1, 0),
    };
    let rows = db.execute(
        &door_to_door_sql(attribute),
        &[prefix.into(), format!("{prefix}:").into(), limit.into(), offset.into()],
    )?;
    let mut names: std::collections::HashMap<String, Option<String>> = std::collections::HashMap::new();
    let mut items = Vec::with_capacity(rows.len());
    for r in rows.iter() {
        let code: String = r.get(0)?;
        let community_name = names
            .entry(code.clone())
            .or_insert_with(|| RegionCode::parse(&code).ok().and_then(|c| tree.name(c.value)).map(str::to_string))
            .clone();
        let id: String = r.get(3)?;
        let phone: Option<String> = r.get(4)?;
        let missing: String = r.get(6)?;
        items.push(WorkItem {
            community_code: code,
            community_name,
            address: r.get(1)?,
            name: r.get(2)?,
            id_number: match detail {
                Detail::Full => id,
                Detail::Masked => mask_id(&id),
            },
            phone: match detail {
                Detail::Full => phone,
                Detail::Masked => phone.as_deref().map(mask_phone),
            },
            reason: if r.get::<i64>(5)? == 1 { Reason::Incomplete } else { Reason::Unregistered },
            missing_fields: missing.split(',').filter(|f| !f.is_empty()).map(str::to_string).collect(),
        });
    }
    Ok(items)
}

/// The Chinese column headers of the CSV and XLSX exports, in order.
pub const HEADERS: [&str; 8] = ["社区代码", "社区名称", "地址", "姓名", "公民身份号码", "联系电话", "情况", "缺少项目"];

fn cells(item: &WorkItem) -> [String; 8] {
    [
        item.community_code.clone(),
        item.community_name.clone().unwrap_or_default(),
        item.address.clone(),
        item.name.clone().unwrap_or_default(),
        item.id_number.clone(),
        item.phone.clone().unwrap_or_default(),
        item.reason.name_zh().to_string(),
        item.missing_zh(),
    ]
}

/// CSV in UTF-8 with a byte-order mark, Chinese headers.
pub fn to_csv(items: &[WorkItem]) -> anyhow::Result<Vec<u8>> {
    let mut out = b"\xEF\xBB\xBF".to_vec();
    {
        let mut w = csv::Writer::from_writer(&mut out);
        w.write_record(HEADERS)?;
        for item in items {
            w.write_record(cells(item))?;
        }
        w.flush()?;
    }
    Ok(out)
}

/// An XLSX workbook with one sheet 入户调查名单: Chinese headers, every cell as text (IDs must
/// not turn into numbers), a frozen header row and an autofilter.
pub fn to_xlsx(items: &[WorkItem], title: &str) -> anyhow::Result<Vec<u8>> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("入户调查名单")?;
    let bold = Format::new().set_bold();
    for (c, h) in HEADERS.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (i, item) in items.iter().enumerate() {
        for (c, v) in cells(item).iter().enumerate() {
            sheet.write_string(i as u32 + 1, c as u16, v)?;
        }
    }
    let widths = [14.0, 16.0, 36.0, 10.0, 21.0, 14.0, 10.0, 30.0];
    for (c, w) in widths.iter().enumerate() {
        sheet.set_column_width(c as u16, *w)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    sheet.autofilter(0, 0, items.len() as u32, (HEADERS.len() - 1) as u16)?;
    book.set_properties(&rust_xlsxwriter::DocProperties::new().set_title(title));
    Ok(book.save_to_buffer()?)
}
