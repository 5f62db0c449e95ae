//! The administrative region tree (GB/T 2260 + statistical division codes) that every figure,
//! work list and staff permission is cut by. The county level is national and stable; townships
//! and communities change and are data, loaded from CSV (`code,name,parent_code`) with each row
//! checked, so a person can only ever be attributed to a region the bureau has loaded.

use crate::correction::{squash_code, Parsed};
use crate::error::{FieldError, Reason};
use crate::ids::text_identifier;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

const FIELD: &str = "region_code";

/// The real Panzhihua codes: the city and its five county-level divisions.
const PANZHIHUA_CSV: &str = include_str!("../data/regions.csv");
/// The synthetic townships and communities under them, for tests and demos (not real).
const DEMO_CSV: &str = include_str!("../data/regions-demo.csv");

/// The level of a region in the administrative hierarchy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// 省级: 6 digits ending in `0000`.
    Province,
    /// 地级市 (prefecture, e.g. 510400 攀枝花市): 6 digits ending in `00`.
    City,
    /// 县级 (county, district, county-level city): the other 6-digit codes.
    County,
    /// 乡级 (township, town, street): 9 digits.
    Township,
    /// 村级 (community, village): 12 digits.
    Community,
}

impl Level {
    /// How many leading digits a code of this level shares with everything under it.
    fn prefix_len(self) -> usize {
        match self {
            Level::Province => 2,
            Level::City => 4,
            Level::County => 6,
            Level::Township => 9,
            Level::Community => 12,
        }
    }
}

/// A well-formed region code of 6, 9 or 12 digits (whether it is loaded is the tree's business).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegionCode {
    /// The digits, padded with `0` so that codes sort parent first, then its subtree.
    digits: [u8; 12],
    len: u8,
}

impl RegionCode {
    /// Parses a region code (spaces and full-width digits are corrected).
    pub fn parse(text: &str) -> Result<Parsed<RegionCode>, FieldError> {
        let mut corrections = Vec::new();
        let s = squash_code(FIELD, text, &mut corrections);
        let err = |code, message: String| FieldError::new(FIELD, code, message);
        if s.is_empty() {
            return Err(err(Reason::Required, "请填写行政区划代码".into()));
        }
        if let Some(c) = s.chars().find(|c| !c.is_ascii_digit()) {
            return Err(err(Reason::Charset, format!("行政区划代码只能是数字，“{c}”不对，请核对")));
        }
        if !matches!(s.len(), 6 | 9 | 12) {
            return Err(err(
                Reason::Length,
                format!("行政区划代码应为6位（县级）、9位（乡镇街道）或12位（村社区），您填写了{}位", s.len()),
            ));
        }
        let unit_missing = match s.len() {
            6 => s == "000000",
            _ => s.ends_with("000"),
        };
        if unit_missing {
            return Err(err(Reason::Format, format!("行政区划代码{s}末尾编号不能全为0，请核对")));
        }
        let mut digits = [b'0'; 12];
        digits[..s.len()].copy_from_slice(s.as_bytes());
        Ok(Parsed { value: RegionCode { digits, len: s.len() as u8 }, corrections })
    }

    /// The digits.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.digits[..usize::from(self.len)]).expect("a RegionCode holds ASCII digits")
    }

    /// The level: 9 digits township, 12 community; 6 digits by trailing zeros (`0000` province,
    /// `00` city such as 510400, else county).
    pub fn level(&self) -> Level {
        match (self.len, &self.digits[2..6]) {
            (12, _) => Level::Community,
            (9, _) => Level::Township,
            (_, [b'0', b'0', b'0', b'0']) => Level::Province,
            (_, [_, _, b'0', b'0']) => Level::City,
            _ => Level::County,
        }
    }

    /// The parent the coding scheme implies: a community's first 9 digits, a township's first 6,
    /// a county's city (`510402` → `510400`), a city's province; none for a province.
    pub fn parent_code(&self) -> Option<RegionCode> {
        let mut digits = [b'0'; 12];
        let len = match self.level() {
            Level::Province => return None,
            Level::City => {
                digits[..2].copy_from_slice(&self.digits[..2]);
                6
            }
            Level::County => {
                digits[..4].copy_from_slice(&self.digits[..4]);
                6
            }
            Level::Township => {
                digits[..6].copy_from_slice(&self.digits[..6]);
                6
            }
            Level::Community => {
                digits[..9].copy_from_slice(&self.digits[..9]);
                9
            }
        };
        Some(RegionCode { digits, len })
    }

    /// Whether this code lies in `ancestor`'s area by the coding scheme alone (a code lies in
    /// its own area); [`RegionTree::contains`] also requires both to be loaded.
    pub fn is_within(&self, ancestor: RegionCode) -> bool {
        self.level() >= ancestor.level() && self.as_str().starts_with(ancestor.area_prefix())
    }

    /// The significant prefix every code in this area starts with (`510400` → `5104`,
    /// `510402` → `510402`): what region queries and scoping match on.
    pub fn area_prefix(&self) -> &str {
        &self.as_str()[..self.level().prefix_len()]
    }
}

impl fmt::Debug for RegionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegionCode({})", self.as_str())
    }
}

text_identifier!(RegionCode);

/// One loaded region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Region {
    /// Its code.
    pub code: RegionCode,
    /// Its name, e.g. 东区.
    pub name: String,
    /// Its parent in the tree; none for a root (a city or province loaded without its parent).
    pub parent: Option<RegionCode>,
}

impl Region {
    /// The region's level.
    pub fn level(&self) -> Level {
        self.code.level()
    }
}

/// A refused row of a region file: its line (the header is line 1 when there are no comment
/// lines) and why, with `error.field` naming the column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// The line in the file, counting from 1.
    pub line: u64,
    /// The column, reason code and message.
    pub error: FieldError,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.error)
    }
}

/// What loading a region file did. Nothing is ever removed: codes already in use are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LoadReport {
    /// Regions that were not in the tree.
    pub added: usize,
    /// Regions already in the tree under another name, now renamed.
    pub updated: usize,
    /// Regions already in the tree with the same name.
    pub unchanged: usize,
    /// Refused rows, in line order.
    pub errors: Vec<RowError>,
}

/// The loaded region tree: lookups by code, children in code order, fast area membership.
#[derive(Debug, Clone, Default)]
pub struct RegionTree {
    regions: BTreeMap<RegionCode, Region>,
    children: BTreeMap<RegionCode, BTreeSet<RegionCode>>,
}

/// A row that passed its own checks, waiting for its parent to be known.
struct Row {
    line: u64,
    code: RegionCode,
    name: String,
    parent: Option<RegionCode>,
}

/// The rows of the shipped region files whose code is one of `codes` (shipped files are ours: a
/// header `code,name,parent_code`, then one row a line without quoting, the code first).
fn shipped_rows(files: &[&str], codes: &BTreeSet<String>) -> Vec<(u64, String, String, String)> {
    let mut rows = Vec::new();
    for csv in files {
        for (n, line) in csv.lines().enumerate().filter(|(_, l)| !l.starts_with('#')).skip(1) {
            // Only the wanted rows are copied (a form submission wants a handful of 120).
            let mut cells = line.splitn(3, ',').map(str::trim);
            let mut cell = || cells.next().unwrap_or_default();
            let code = cell();
            if codes.contains(code) {
                let (name, parent) = (cell(), cell());
                rows.push((n as u64 + 1, code.to_owned(), name.to_owned(), parent.to_owned()));
            }
        }
    }
    rows
}

impl RegionTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The six real Panzhihua codes (510400 and its five county-level divisions).
    pub fn panzhihua() -> Self {
        let mut tree = Self::new();
        tree.load_shipped(PANZHIHUA_CSV);
        tree
    }

    /// The real Panzhihua codes plus the SYNTHETIC demo townships and communities
    /// (`data/regions-demo.csv`, names marked 演示), for tests and demos.
    pub fn panzhihua_demo() -> Self {
        let mut tree = Self::panzhihua();
        tree.load_shipped(DEMO_CSV);
        tree
    }

    /// The shipped demo tree cut down to `codes` (each given with its ancestors): what checking a
    /// form's few codes needs, without building all of the shipped tree on every request.
    pub fn panzhihua_demo_part(codes: &BTreeSet<String>) -> Self {
        let mut tree = Self::new();
        let report = tree.load_rows(shipped_rows(&[PANZHIHUA_CSV, DEMO_CSV], codes));
        assert!(report.errors.is_empty(), "shipped region rows rejected: {:?}", report.errors);
        tree
    }

    fn load_shipped(&mut self, csv: &str) {
        let report = self.load_csv_str(csv).expect("the shipped region files have a header");
        assert!(report.errors.is_empty(), "shipped region file rejected rows: {:?}", report.errors);
    }

    /// A tree of `(code, name, parent_code)` rows checked once already (stored rows), put
    /// through the same checks as a file's.
    pub fn from_rows(rows: impl IntoIterator<Item = (String, String, Option<String>)>) -> (Self, LoadReport) {
        let mut tree = Self::new();
        let cells = rows.into_iter().enumerate().map(|(i, (code, name, parent))| (i as u64 + 1, code, name, parent.unwrap_or_default()));
        let report = tree.load_rows(cells.collect());
        (tree, report)
    }

    /// A tree loaded from a region file (UTF-8 with or without BOM, or GB18030).
    pub fn from_csv_bytes(bytes: &[u8]) -> Result<(Self, LoadReport), FieldError> {
        let mut tree = Self::new();
        let report = tree.load_csv_bytes(bytes)?;
        Ok((tree, report))
    }

    /// Adds or renames the regions of a file (UTF-8 with or without BOM, or GB18030). Fails as
    /// a whole only when the file cannot be read or lacks a column; bad rows are reported.
    pub fn load_csv_bytes(&mut self, bytes: &[u8]) -> Result<LoadReport, FieldError> {
        self.load_csv_str(&decode_text(bytes)?)
    }

    /// Adds or renames the regions of a CSV text with columns `code,name,parent_code` (or
    /// 区划代码, 名称, 上级区划代码), in any order; lines starting with `#` are comments. A row is
    /// refused if its code is malformed, its name empty, its parent is not the code's prefix
    /// parent, or that parent is neither in the tree nor accepted from the same file. A
    /// `parent_code` may be empty only where the parent is present anyway or the row is a city or
    /// province. A code repeated in the file takes its last row's name.
    pub fn load_csv_str(&mut self, text: &str) -> Result<LoadReport, FieldError> {
        let mut reader = csv::ReaderBuilder::new()
            .comment(Some(b'#'))
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers = reader.headers().map_err(file_error)?.clone();
        let column = |names: &[&str]| headers.iter().position(|h| names.contains(&h));
        let missing = |name: &str, zh: &str| {
            FieldError::new(name, Reason::Required, format!("文件缺少“{name}”（{zh}）列，请检查表头"))
        };
        let code_col = column(&["code", "区划代码", "行政区划代码"]).ok_or_else(|| missing("code", "区划代码"))?;
        let name_col = column(&["name", "名称", "区划名称"]).ok_or_else(|| missing("name", "名称"))?;
        let parent_col = column(&["parent_code", "上级区划代码", "上级代码"]);

        let mut cells = Vec::new();
        for record in reader.records() {
            let record = record.map_err(file_error)?;
            let line = record.position().map_or(0, |p| p.line());
            let cell = |i: usize| record.get(i).unwrap_or("").to_owned();
            cells.push((line, cell(code_col), cell(name_col), parent_col.map_or_else(String::new, cell)));
        }
        Ok(self.load_rows(cells))
    }

    /// Adds or renames regions given as `(line, code, name, parent_code)`, checked as
    /// [`Self::load_csv_str`] says: the one way regions enter a tree, whether from a file, the
    /// database or the shipped lists.
    fn load_rows(&mut self, cells: Vec<(u64, String, String, String)>) -> LoadReport {
        let mut report = LoadReport::default();
        let mut rows: BTreeMap<RegionCode, Row> = BTreeMap::new();
        for (line, code, name, parent) in cells {
            match parse_row(line, &code, &name, &parent) {
                Ok(row) => {
                    rows.insert(row.code, row);
                }
                Err(error) => report.errors.push(RowError { line, error }),
            }
        }

        // Codes sort parent first, so one pass in code order sees every parent before its children.
        let mut accepted: HashSet<RegionCode> = HashSet::new();
        let mut staged = Vec::with_capacity(rows.len());
        for row in rows.into_values() {
            let implied = row.code.parent_code();
            let present = |p: &RegionCode| self.regions.contains_key(p) || accepted.contains(p);
            let parent = match (row.parent, implied) {
                (_, Some(p)) if present(&p) => Some(p),
                (None, _) if row.code.level() <= Level::City => None,
                (_, p) => {
                    let p = p.map(|p| p.to_string()).unwrap_or_default();
                    report.errors.push(RowError {
                        line: row.line,
                        error: FieldError::new(
                            "parent_code",
                            Reason::UnknownRegion,
                            format!("上级区划{p}不在区划库中，本文件中也没有成功导入，请先导入上级区划"),
                        ),
                    });
                    continue;
                }
            };
            accepted.insert(row.code);
            staged.push(Region { code: row.code, name: row.name, parent });
        }

        for region in staged {
            match self.regions.get_mut(&region.code) {
                Some(existing) if existing.name == region.name => report.unchanged += 1,
                Some(existing) => {
                    existing.name = region.name;
                    report.updated += 1;
                }
                None => {
                    if let Some(p) = region.parent {
                        self.children.entry(p).or_default().insert(region.code);
                    }
                    self.regions.insert(region.code, region);
                    report.added += 1;
                }
            }
        }
        report.errors.sort_by_key(|e| e.line);
        report
    }

    /// The region with this code, if loaded.
    pub fn get(&self, code: RegionCode) -> Option<&Region> {
        self.regions.get(&code)
    }

    /// The name of the region with this code, if loaded.
    pub fn name(&self, code: RegionCode) -> Option<&str> {
        self.get(code).map(|r| r.name.as_str())
    }

    /// Parses a code and requires it to be loaded (`unknown_region` otherwise): the check that
    /// cleaning and forms apply to every region field.
    pub fn parse_known(&self, text: &str) -> Result<Parsed<RegionCode>, FieldError> {
        let parsed = RegionCode::parse(text)?;
        if !self.regions.contains_key(&parsed.value) {
            return Err(FieldError::new(
                FIELD,
                Reason::UnknownRegion,
                format!("行政区划代码{}不在本市区划库中，请从列表中选择", parsed.value),
            ));
        }
        Ok(parsed)
    }

    /// The direct children of a region, in code order.
    pub fn children(&self, parent: RegionCode) -> impl Iterator<Item = &Region> {
        self.children.get(&parent).into_iter().flatten().map(|c| &self.regions[c])
    }

    /// The regions without a loaded parent (for the shipped data: 510400 攀枝花市).
    pub fn roots(&self) -> impl Iterator<Item = &Region> {
        self.regions.values().filter(|r| r.parent.is_none())
    }

    /// Whether `code` lies in `ancestor`'s area (a region lies in its own), both being loaded:
    /// a prefix check and two lookups, cheap enough for every permission check.
    pub fn contains(&self, ancestor: RegionCode, code: RegionCode) -> bool {
        code.is_within(ancestor) && self.regions.contains_key(&ancestor) && self.regions.contains_key(&code)
    }

    /// The county-level region a code lies in (itself for a county), if loaded.
    pub fn county_of(&self, code: RegionCode) -> Option<&Region> {
        let county = match code.level() {
            Level::County => code,
            Level::Township | Level::Community => RegionCode::parse(&code.as_str()[..6]).ok()?.value,
            Level::Province | Level::City => return None,
        };
        self.get(county).filter(|r| r.level() == Level::County)
    }

    /// The loaded regions of one level, in code order.
    pub fn at_level(&self, level: Level) -> impl Iterator<Item = &Region> {
        self.regions.values().filter(move |r| r.level() == level)
    }

    /// Every loaded region, each parent before its subtree.
    pub fn iter(&self) -> impl Iterator<Item = &Region> {
        self.regions.values()
    }

    /// How many regions are loaded.
    pub fn len(&self) -> usize {
        self.regions.len()
    }

    /// Whether no region is loaded.
    pub fn is_empty(&self) -> bool {
        self.regions.is_empty()
    }
}

fn parse_row(line: u64, code: &str, name: &str, parent: &str) -> Result<Row, FieldError> {
    let code = RegionCode::parse(code).map_err(|e| e.for_field("code"))?.value;
    if name.is_empty() {
        return Err(FieldError::new("name", Reason::Required, format!("区划{code}缺少名称")));
    }
    let parent = if parent.is_empty() {
        None
    } else {
        let p = RegionCode::parse(parent).map_err(|e| e.for_field("parent_code"))?.value;
        if Some(p) != code.parent_code() {
            let implied = code.parent_code().map(|p| p.to_string()).unwrap_or_else(|| "（无）".into());
            return Err(FieldError::new(
                "parent_code",
                Reason::Inconsistent,
                format!("区划{code}的上级应为{implied}，文件中写的是{p}，请核对"),
            ));
        }
        Some(p)
    };
    Ok(Row { line, code, name: name.to_owned(), parent })
}

fn file_error(e: csv::Error) -> FieldError {
    FieldError::new("file", Reason::Format, format!("无法读取CSV文件：{e}"))
}

/// The text of a file in UTF-8 (a BOM is dropped) or, failing that, GB18030.
fn decode_text(bytes: &[u8]) -> Result<Cow<'_, str>, FieldError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        return Ok(Cow::Borrowed(text));
    }
    match encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(bytes) {
        Some(text) => Ok(text),
        None => Err(FieldError::new(
            "file",
            Reason::Format,
            "文件既不是UTF-8也不是GB18030编码，请另存为UTF-8后重新上传",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rc(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap().value
    }

    #[test]
    fn codes_have_levels_and_implied_parents() {
        let cases = [
            ("510000", Level::Province, None),
            ("510400", Level::City, Some("510000")),
            ("510402", Level::County, Some("510400")),
            ("510402001", Level::Township, Some("510402")),
            ("510402001001", Level::Community, Some("510402001")),
        ];
        for (code, level, parent) in cases {
            assert_eq!(rc(code).level(), level, "{code}");
            assert_eq!(rc(code).parent_code().map(|p| p.to_string()).as_deref(), parent, "{code}");
        }
        assert!(rc("510402001001").is_within(rc("510400")));
        assert!(rc("510400").is_within(rc("510400")));
        assert!(!rc("510400").is_within(rc("510402")));
        assert!(!rc("510500").is_within(rc("510400")));
    }

    #[test]
    fn malformed_codes_are_refused_precisely() {
        let r = |t: &str| RegionCode::parse(t).unwrap_err().code;
        assert_eq!(r(""), Reason::Required);
        assert_eq!(r("51040"), Reason::Length);
        assert_eq!(r("5104O2"), Reason::Charset);
        assert_eq!(r("510402000"), Reason::Format);
        assert_eq!(r("510402001000"), Reason::Format);
        let p = RegionCode::parse(" ５１０４０２ ").unwrap();
        assert_eq!(p.value.as_str(), "510402");
        assert_eq!(p.corrections.len(), 2);
        assert_eq!(serde_json::to_string(&p.value).unwrap(), "\"510402\"");
    }

    #[test]
    fn the_shipped_trees_load() {
        let real = RegionTree::panzhihua();
        assert_eq!(real.len(), 6);
        let city = rc("510400");
        assert_eq!(real.name(city), Some("攀枝花市"));
        let names: Vec<_> = real.children(city).map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["东区", "西区", "仁和区", "米易县", "盐边县"]);
        assert_eq!(real.roots().map(|r| r.code).collect::<Vec<_>>(), [city]);

        let demo = RegionTree::panzhihua_demo();
        assert_eq!(demo.at_level(Level::County).count(), 5);
        for county in demo.at_level(Level::County) {
            assert!((3..=5).contains(&demo.children(county.code).count()), "{}", county.name);
        }
        for town in demo.at_level(Level::Township) {
            assert!((3..=6).contains(&demo.children(town.code).count()), "{}", town.name);
            assert!(town.name.ends_with("（演示）"));
        }
        assert!(demo.at_level(Level::Community).all(|r| r.name.contains("演示")));
    }

    #[test]
    fn a_part_of_the_demo_tree_is_the_demo_tree_cut_to_the_codes_asked() {
        let demo = RegionTree::panzhihua_demo();
        let community = demo.at_level(Level::Community).nth(7).expect("demo communities").code;
        let mut wanted = BTreeSet::new();
        let mut code = Some(community);
        while let Some(c) = code {
            wanted.insert(c.as_str().to_owned());
            code = c.parent_code();
        }
        wanted.insert("510499999".to_owned()); // not in the shipped tree
        let part = RegionTree::panzhihua_demo_part(&wanted);
        let expected: Vec<&Region> = demo.iter().filter(|r| wanted.contains(r.code.as_str())).collect();
        assert_eq!(part.iter().collect::<Vec<_>>(), expected);
        assert_eq!(part.len(), 4, "community, township, county and city");
        assert!(RegionTree::panzhihua_demo_part(&BTreeSet::new()).is_empty());
    }

    #[test]
    fn contains_agrees_with_the_parent_chain() {
        let demo = RegionTree::panzhihua_demo();
        let chain = |mut code: RegionCode| {
            let mut up = vec![code];
            while let Some(p) = demo.get(code).and_then(|r| r.parent) {
                up.push(p);
                code = p;
            }
            up
        };
        for code in demo.iter().map(|r| r.code) {
            let up = chain(code);
            for ancestor in demo.iter().map(|r| r.code) {
                assert_eq!(demo.contains(ancestor, code), up.contains(&ancestor), "{ancestor} ∋ {code}");
            }
        }
        assert!(!demo.contains(rc("510400"), rc("510402999")));
    }

    #[test]
    fn county_of_finds_the_district() {
        let demo = RegionTree::panzhihua_demo();
        assert_eq!(demo.county_of(rc("510402001001")).unwrap().name, "东区");
        assert_eq!(demo.county_of(rc("510421")).unwrap().name, "米易县");
        assert!(demo.county_of(rc("510400")).is_none());
        assert!(demo.county_of(rc("510499001")).is_none());
        assert_eq!(demo.parse_known("510499").unwrap_err().code, Reason::UnknownRegion);
        assert!(demo.parse_known("510402001").is_ok());
    }

    #[test]
    fn bad_rows_are_reported_with_line_and_reason() {
        let csv = "code,name,parent_code\n\
                   510400,攀枝花市,\n\
                   510402,东区,510400\n\
                   5104021,坏代码,510402\n\
                   510402001,,510402\n\
                   510402002,街道二,510403\n\
                   510411001,无上级,510411\n\
                   510411001001,上级被拒,510411001\n\
                   510402003,街道三,\n\
                   510402003001,社区,510402003\n";
        let (tree, report) = RegionTree::from_csv_bytes(csv.as_bytes()).unwrap();
        let got: Vec<_> = report.errors.iter().map(|e| (e.line, e.error.field.as_str(), e.error.code)).collect();
        assert_eq!(
            got,
            [
                (4, "code", Reason::Length),
                (5, "name", Reason::Required),
                (6, "parent_code", Reason::Inconsistent),
                (7, "parent_code", Reason::UnknownRegion),
                (8, "parent_code", Reason::UnknownRegion),
            ]
        );
        assert_eq!(report.added, 4);
        let commented = format!("# a comment\n{csv}");
        let (_, report) = RegionTree::from_csv_bytes(commented.as_bytes()).unwrap();
        assert_eq!(report.errors[0].line, 5, "comment lines count as lines");
        assert_eq!(tree.get(rc("510402003")).unwrap().parent, Some(rc("510402")));
    }

    #[test]
    fn reloading_adds_and_renames_but_never_removes() {
        let mut tree = RegionTree::panzhihua_demo();
        let before = tree.len();
        let report = tree
            .load_csv_str("区划代码,名称,上级区划代码\n510402001,东区新名（演示）,510402\n510402009,新街道,510402\n")
            .unwrap();
        assert_eq!((report.added, report.updated, report.unchanged), (1, 1, 0));
        assert_eq!(tree.len(), before + 1);
        assert_eq!(tree.name(rc("510402001")), Some("东区新名（演示）"));
        assert!(tree.children(rc("510402")).any(|r| r.code == rc("510402009")));
    }

    #[test]
    fn files_in_utf8_bom_and_gb18030_read_alike() {
        let text = "name,code,parent_code\n攀枝花市,510400,\n东区,510402,510400\n";
        let bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
        let (gbk, _, unmappable) = encoding_rs::GB18030.encode(text);
        assert!(!unmappable);
        assert_ne!(gbk.as_ref(), text.as_bytes());
        for bytes in [text.as_bytes(), &bom, &gbk] {
            let (tree, report) = RegionTree::from_csv_bytes(bytes).unwrap();
            assert!(report.errors.is_empty());
            assert_eq!(tree.name(rc("510402")), Some("东区"));
        }
        let err = RegionTree::from_csv_bytes(b"code,parent_code\n510400,\n").unwrap_err();
        assert_eq!((err.field.as_str(), err.code), ("name", Reason::Required));
        assert_eq!(RegionTree::from_csv_bytes(b"\xFF\xFF\x80").unwrap_err().code, Reason::Format);
    }
}
