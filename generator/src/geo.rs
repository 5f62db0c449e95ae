//! The city as the generator sees it: the five counties/districts with their weights and the
//! communities (12-digit codes) under each, read from the shared region tree.

use canbao::regions::RegionTree;

/// The first four digits of every region code in Panzhihua (510400).
pub const CITY_PREFIX: &str = "5104";

/// A community (社区/村), the level residents are placed at.
#[derive(Debug, Clone)]
pub struct Community {
    /// 12-digit code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Name of its township/street.
    pub township: String,
}

/// A county or district.
#[derive(Debug, Clone)]
pub struct County {
    /// 6-digit code.
    pub code: String,
    /// Name, e.g. 东区.
    pub name: String,
    /// Relative population (thousands, roughly the real one).
    pub weight: u32,
    /// Its communities.
    pub communities: Vec<Community>,
}

/// Counties and communities of the city.
#[derive(Debug, Clone)]
pub struct Geography {
    /// The counties in code order.
    pub counties: Vec<County>,
}

/// Approximate resident population of each county (thousands), for weighting.
fn weight_of(code: &str) -> u32 {
    match code {
        "510402" => 320,
        "510403" => 150,
        "510411" => 250,
        "510421" => 220,
        "510422" => 200,
        _ => 100,
    }
}

impl Geography {
    /// Builds the geography from region rows `(code, name, parent_code)`; rows outside the city
    /// and levels other than county, township and community are ignored.
    pub fn from_rows<'a>(rows: impl IntoIterator<Item = (&'a str, &'a str, Option<&'a str>)>) -> Geography {
        let rows: Vec<(&str, &str, Option<&str>)> = rows.into_iter().collect();
        let mut counties: Vec<County> = rows
            .iter()
            .filter(|(c, _, _)| c.len() == 6 && c.starts_with(CITY_PREFIX) && *c != "510400")
            .map(|(c, n, _)| County { code: c.to_string(), name: n.to_string(), weight: weight_of(c), communities: Vec::new() })
            .collect();
        counties.sort_by(|a, b| a.code.cmp(&b.code));
        let township_name = |code: &str| rows.iter().find(|(c, _, _)| *c == code).map(|r| r.1.to_string());
        let mut communities: Vec<(&str, &str, Option<&str>)> =
            rows.iter().copied().filter(|(c, _, _)| c.len() == 12 && c.starts_with(CITY_PREFIX)).collect();
        communities.sort();
        for (code, name, parent) in communities {
            let Some(county) = counties.iter_mut().find(|k| code.starts_with(&k.code)) else { continue };
            let township = parent.and_then(township_name).unwrap_or_default();
            county.communities.push(Community { code: code.to_string(), name: name.to_string(), township });
        }
        counties.retain(|c| !c.communities.is_empty());
        Geography { counties }
    }

    /// The shared demo tree (six real codes plus the synthetic townships and communities).
    pub fn panzhihua_demo() -> Geography {
        let tree = RegionTree::panzhihua_demo();
        let rows: Vec<(String, String, Option<String>)> = tree
            .iter()
            .map(|r| (r.code.as_str().to_string(), r.name.clone(), r.parent.map(|p| p.as_str().to_string())))
            .collect();
        Geography::from_rows(rows.iter().map(|(c, n, p)| (c.as_str(), n.as_str(), p.as_deref())))
    }

    /// The index of the county a region code lies in.
    pub fn county_index(&self, region: &str) -> Option<usize> {
        if region.len() < 6 {
            return None;
        }
        self.counties.iter().position(|c| c.code == region[..6])
    }
}

/// Regions outside the city that hukou addresses and ID address codes name, with the province
/// and prefecture above each (the tree requires every parent to be loaded).
pub const OUTSIDE_REGIONS: &[(&str, &str, &str)] = &[
    ("510000", "四川省", ""),
    ("510100", "成都市", "510000"),
    ("510104", "锦江区", "510100"),
    ("510107", "武侯区", "510100"),
    ("511100", "乐山市", "510000"),
    ("511102", "市中区", "511100"),
    ("513400", "凉山彝族自治州", "510000"),
    ("513401", "西昌市", "513400"),
    ("530000", "云南省", ""),
    ("530100", "昆明市", "530000"),
    ("530102", "五华区", "530100"),
    ("532300", "楚雄彝族自治州", "530000"),
    ("532301", "楚雄市", "532300"),
];

/// The region file the expected outcome assumes is loaded first (`PUT /api/v1/regions`): the
/// regions outside the city that hukou codes name, then the shared demo tree.
pub fn regions_csv() -> String {
    let tree = RegionTree::panzhihua_demo();
    let mut out = String::from("code,name,parent_code\n");
    for (code, name, parent) in OUTSIDE_REGIONS {
        out.push_str(&format!("{code},{name},{parent}\n"));
    }
    for r in tree.iter() {
        let parent = r.parent.map(|p| p.as_str().to_string()).unwrap_or_default();
        out.push_str(&format!("{},{},{}\n", r.code.as_str(), r.name, parent));
    }
    out
}

/// Whether a region code is in the tree of [`regions_csv`].
pub fn is_known(code: &str) -> bool {
    use std::sync::OnceLock;
    static TREE: OnceLock<RegionTree> = OnceLock::new();
    let tree = TREE.get_or_init(RegionTree::panzhihua_demo);
    OUTSIDE_REGIONS.iter().any(|(c, _, _)| *c == code)
        || canbao::regions::RegionCode::parse(code).ok().is_some_and(|c| tree.get(c.value).is_some())
}
