//! Figures, anomaly and work lists, and the dashboard (the `stats` component).
//!
//! Figures are cached in the key-value store under the database's data version, which intake and
//! registration bump in the same transaction as every change: a cached answer is served only
//! while no change has happened since it was computed, so the cache never hides one.

use super::{health, ApiError, ApiResult, Env, Request, Response};
use crate::auth::{Principal, Role};
use crate::figures::{figures_for, figures_grouped, Attribute, Figures, COMPLETENESS_TARGET, REGISTRATION_TARGET};
use crate::regions::{Level, RegionCode};
use crate::stats::anomalies::{self, AnomalyType, Scope};
use crate::stats::cache;
use crate::stats::trend;
use crate::stats::worklist::{self, Detail};
use crate::{audit, region_store, store};
use serde::Serialize;
use serde_json::{json, Value};

/// The city the app serves; the default region of every figure.
pub const CITY: &str = "510400";

/// Routes one request of the `stats` component.
pub fn route(env: &Env, req: &Request) -> ApiResult {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/v1/stats/health") => health(env, "stats"),
        ("GET", "/api/v1/stats/overview") => overview(env, req),
        ("GET", "/api/v1/stats/anomalies") => anomaly_list(env, req),
        ("GET", "/api/v1/stats/worklist") => door_to_door(env, req),
        ("GET", "/api/v1/stats/trend") => trend_series(env, req),
        (_, "/api/v1/stats/overview" | "/api/v1/stats/anomalies" | "/api/v1/stats/worklist" | "/api/v1/stats/trend") => {
            Err(ApiError::MethodNotAllowed { allow: "GET" })
        }
        ("GET", "/dashboard" | "/dashboard/" | "/dashboard/index.html") => {
            Ok(asset("text/html; charset=utf-8", DASHBOARD_HTML))
        }
        ("GET", "/dashboard/app.js") => Ok(asset("text/javascript; charset=utf-8", &dashboard_js())),
        ("GET", "/dashboard/app.css") => Ok(asset("text/css; charset=utf-8", DASHBOARD_CSS)),
        _ => Err(ApiError::not_found()),
    }
}

/// What the overview returns; also what is cached.
#[derive(Serialize)]
struct Overview {
    region: RegionInfo,
    by: Attribute,
    targets: serde_json::Value,
    figures: serde_json::Value,
    children: Vec<ChildFigures>,
    data_version: i64,
    computed_at: String,
}

#[derive(Serialize)]
struct RegionInfo {
    code: String,
    name: Option<String>,
    level: String,
}

#[derive(Serialize)]
struct ChildFigures {
    code: String,
    name: Option<String>,
    figures: serde_json::Value,
}

/// `GET /api/v1/stats/overview?region=&by=hukou|residence`: the figures of DOMAIN §7 for a region
/// and each child region, against the 90%/80% targets. Public for the city and its counties;
/// below that, staff and collectors of the region, and admins. Served from the cache while the
/// data version is the one it was computed at (`stats::cache`: one KV read, the body as it was
/// sent), or within `stats_max_age_seconds` of its computation; after a change one request
/// computes and concurrent ones wait for its answer.
fn overview(env: &Env, req: &Request) -> ApiResult {
    let region = region_param(req)?;
    let by = by_param(req)?;
    authorise_region(env, req, region)?;

    let version = store::data_version(env.sql)?;
    let key = format!("stats:overview:{}:{}", by.as_str(), region.as_str());
    let (body, source) = cache::single_flight(env.sql, env.kv, &key, version, env.now, max_age(env), || {
        let body = compute_overview(env, by, region, version)?;
        Ok::<_, ApiError>(serde_json::to_vec(&body).expect("the overview serialises"))
    })?;
    Ok(Response::with_body(200, "application/json; charset=utf-8", body)
        .header("x-canbao-cache", source.header())
        .header("cache-control", "no-cache"))
}

/// How old cached figures may be served after a change (`stats_max_age_seconds`, default 0:
/// never; see `stats::cache`).
fn max_age(env: &Env) -> chrono::Duration {
    chrono::Duration::seconds(env.var_or("stats_max_age_seconds", "0").trim().parse::<u32>().unwrap_or(0).into())
}

/// The overview of a region, computed now (one scan of the region's index range).
fn compute_overview(env: &Env, by: Attribute, region: RegionCode, version: i64) -> Result<Overview, ApiError> {
    let tree = region_store::load_tree(env.sql)?;
    // One scan: the children partition the region, so its own figures are their sum.
    let (own, children) = match child_code_len(region) {
        Some(len) => {
            let parts = figures_grouped(env.sql, by, region, len)?;
            let children = parts
                .iter()
                .map(|f| ChildFigures {
                    name: RegionCode::parse(&f.region).ok().and_then(|c| tree.name(c.value)).map(str::to_string),
                    code: f.region.clone(),
                    figures: figures_json(f),
                })
                .collect();
            (Figures::total(region, &parts), children)
        }
        None => (figures_for(env.sql, by, region)?, Vec::new()),
    };
    Ok(Overview {
        region: region_info(&tree, region),
        by,
        targets: json!({"registration_rate": REGISTRATION_TARGET, "completeness_rate": COMPLETENESS_TARGET}),
        figures: figures_json(&own),
        children,
        data_version: version,
        computed_at: env.now.to_rfc3339(),
    })
}

/// The figures with whether each target is met.
fn figures_json(f: &Figures) -> serde_json::Value {
    let mut v = serde_json::to_value(f).expect("figures serialise");
    v["registration_target_met"] = f.registration_target_met().into();
    v["completeness_target_met"] = f.completeness_target_met().into();
    v
}

/// The code length of a region's children (city → counties → townships → communities).
fn child_code_len(region: RegionCode) -> Option<usize> {
    match region.level() {
        Level::Province | Level::City => Some(6),
        Level::County => Some(9),
        Level::Township => Some(12),
        Level::Community => None,
    }
}

/// The `region` query parameter (default: the city), which must lie in the city.
fn region_param(req: &Request) -> Result<RegionCode, ApiError> {
    let text = req.query_param("region").filter(|r| !r.is_empty()).unwrap_or_else(|| CITY.to_string());
    let region = RegionCode::parse(&text).map_err(|e| ApiError::Validation(vec![e.for_field("region")]))?.value;
    let city = RegionCode::parse(CITY).expect("the city code is valid").value;
    if !region.is_within(city) {
        return Err(ApiError::NotFound { code: "unknown_region", message: "不在本市范围内的区划".into() });
    }
    Ok(region)
}

/// City and county figures are public; townships and communities need a token covering them.
fn authorise_region(env: &Env, req: &Request, region: RegionCode) -> Result<(), ApiError> {
    let principal = env.principal(req)?;
    if matches!(region.level(), Level::Province | Level::City | Level::County) {
        return Ok(());
    }
    principal.require(&[Role::Admin, Role::Staff, Role::Collector])?;
    if let Principal::Token(_) = principal {
        principal.require_region(region.as_str())?;
    }
    Ok(())
}

/// The `by` query parameter: `hukou` (default) or `residence`.
fn by_param(req: &Request) -> Result<Attribute, ApiError> {
    match req.query_param("by").as_deref() {
        None | Some("") => Ok(Attribute::Hukou),
        Some(text) => Attribute::parse(text).ok_or_else(|| ApiError::BadRequest {
            code: "invalid_parameter",
            message: "by 只能是 hukou 或 residence".into(),
        }),
    }
}

/// The region of a list: the `region` parameter, else the caller's own region (staff and
/// collectors), else the city; 403 outside the caller's region.
fn list_region(req: &Request, principal: &Principal) -> Result<RegionCode, ApiError> {
    let asked = req.query_param("region").filter(|r| !r.is_empty());
    let region = match (asked, principal) {
        (Some(_), _) => region_param(req)?,
        (None, Principal::Token(t)) => match t.region.as_deref().map(RegionCode::parse) {
            Some(Ok(code)) if t.role != Role::Admin => code.value,
            _ => region_param(req)?,
        },
        (None, Principal::Public) => region_param(req)?,
    };
    principal.require_region(region.as_str())?;
    Ok(region)
}

/// A positive integer query parameter with a default and an upper bound (400 otherwise).
fn count_param(req: &Request, name: &'static str, default: u64, max: u64) -> Result<u64, ApiError> {
    let Some(text) = req.query_param(name).filter(|t| !t.is_empty()) else { return Ok(default) };
    match text.parse::<u64>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::BadRequest {
            code: "invalid_parameter",
            message: format!("{name} 须为 1 到 {max} 之间的整数"),
        }),
    }
}

/// The largest page of an anomaly list or of the door-to-door list as JSON.
pub const MAX_PAGE_SIZE: u64 = 200;

/// Audit action of an anomaly list read.
pub const AUDIT_ANOMALIES: &str = "stats.anomalies";
/// Audit action of a door-to-door list read or export.
pub const AUDIT_WORKLIST: &str = "stats.worklist";

/// The counts of every anomaly type for a region, cached under the data version like figures.
#[derive(Serialize)]
struct AnomalyCounts {
    region: RegionInfo,
    by: Attribute,
    counts: Vec<Value>,
    data_version: i64,
    computed_at: String,
}

/// `GET /api/v1/stats/anomalies?type=&region=&by=&page=&page_size=`: staff (own region) and
/// admins. Without `type`, the count of each list (what the dashboard shows); with it, one page
/// of that list with its total. Rows carry full identifiers, because staff act on them (open the
/// person, resolve the conflict, stop the payment); every list read is audited.
fn anomaly_list(env: &Env, req: &Request) -> ApiResult {
    let principal = env.principal(req)?;
    principal.require(&[Role::Admin, Role::Staff])?;
    let region = list_region(req, &principal)?;
    let by = by_param(req)?;
    let scope = Scope { region, by };
    let kind = match req.query_param("type").filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(AnomalyType::parse(&t).ok_or_else(|| ApiError::BadRequest {
            code: "invalid_parameter",
            message: format!(
                "type 只能是 {}",
                AnomalyType::ALL.iter().map(|t| t.code()).collect::<Vec<_>>().join("、")
            ),
        })?),
    };
    let page = count_param(req, "page", 1, u64::from(u32::MAX))?;
    let page_size = count_param(req, "page_size", 50, MAX_PAGE_SIZE)?;
    let info = || Ok::<_, ApiError>(region_info(&region_store::load_tree(env.sql)?, region));
    let version = store::data_version(env.sql)?;

    let Some(kind) = kind else {
        let key = format!("stats:anomalies:{}:{}", by.as_str(), region.as_str());
        let (body, source) = cache::single_flight(env.sql, env.kv, &key, version, env.now, max_age(env), || {
            let mut counts = Vec::new();
            for t in AnomalyType::ALL {
                counts.push(json!({"type": t.code(), "name": t.name_zh(), "total": anomalies::count(env.sql, t, scope)?}));
            }
            let body = AnomalyCounts { region: info()?, by, counts, data_version: version, computed_at: env.now.to_rfc3339() };
            Ok::<_, ApiError>(serde_json::to_vec(&body).expect("the counts serialise"))
        })?;
        return Ok(Response::with_body(200, "application/json; charset=utf-8", body)
            .header("x-canbao-cache", source.header())
            .header("cache-control", "no-store"));
    };

    let list = anomalies::page(env.sql, kind, scope, page, page_size)?;
    audit::record(
        env.sql,
        env.now,
        &principal,
        AUDIT_ANOMALIES,
        None,
        &json!({"type": kind.code(), "region": region.as_str(), "page": page, "rows": list.items.len()}),
    )?;
    let body = json!({
        "type": kind.code(),
        "name": kind.name_zh(),
        "region": info()?,
        "by": by,
        "page": page,
        "page_size": page_size,
        "total": list.total,
        "pages": list.total.div_ceil(page_size),
        "items": list.items,
        "data_version": version,
        "computed_at": env.now.to_rfc3339(),
    });
    Ok(Response::json(200, &body).header("cache-control", "no-store"))
}

fn region_info(tree: &crate::regions::RegionTree, region: RegionCode) -> RegionInfo {
    RegionInfo {
        code: region.as_str().to_string(),
        name: tree.name(region).map(str::to_string),
        level: format!("{:?}", region.level()).to_lowercase(),
    }
}

/// `GET /api/v1/stats/worklist?region=&by=&format=json|csv|xlsx&page=&page_size=`: the
/// door-to-door list (入户调查名单) for staff and collectors of the region, and admins; JSON one
/// page at a time (at most [`MAX_PAGE_SIZE`] rows) with the whole list's totals, CSV and XLSX the
/// whole list. Collectors see IDs and phones masked. Every read is audited (who, region, how many
/// rows; never the rows).
fn door_to_door(env: &Env, req: &Request) -> ApiResult {
    let principal = env.principal(req)?;
    let token = principal.require(&[Role::Admin, Role::Staff, Role::Collector])?;
    let detail = if token.role == Role::Collector { Detail::Masked } else { Detail::Full };
    let region = list_region(req, &principal)?;
    let by = by_param(req)?;
    let format = match req.query_param("format").as_deref() {
        None | Some("") | Some("json") => "json",
        Some("csv") => "csv",
        Some("xlsx") => "xlsx",
        Some(_) => {
            return Err(ApiError::BadRequest { code: "invalid_parameter", message: "format 只能是 json、csv 或 xlsx".into() })
        }
    };
    let tree = region_store::load_tree(env.sql)?;
    let day = trend::china_day(env.now).format("%Y%m%d");
    let file = |ext: &str| {
        format!(
            "attachment; filename=\"worklist-{code}-{day}.{ext}\"; filename*=UTF-8''%E5%85%A5%E6%88%B7%E8%B0%83%E6%9F%A5%E5%90%8D%E5%8D%95-{code}-{day}.{ext}",
            code = region.as_str()
        )
    };
    let audit_read = |rows: usize, page: Option<(u64, u64)>| {
        let mut detail = json!({"region": region.as_str(), "format": format, "rows": rows});
        if let Some((page, page_size)) = page {
            detail["page"] = page.into();
            detail["page_size"] = page_size.into();
        }
        audit::record(env.sql, env.now, &principal, AUDIT_WORKLIST, None, &detail)
    };
    let response = match format {
        "csv" | "xlsx" => {
            // The exports are the whole list: what a grid worker prints or opens in Excel.
            let items = worklist::door_to_door_list(env.sql, &tree, by, region, detail)?;
            audit_read(items.len(), None)?;
            if format == "csv" {
                Response::with_body(200, "text/csv; charset=utf-8", worklist::to_csv(&items)?)
                    .header("content-disposition", file("csv"))
            } else {
                let title = format!("入户调查名单 {} {}", tree.name(region).unwrap_or(region.as_str()), day);
                Response::with_body(
                    200,
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    worklist::to_xlsx(&items, &title)?,
                )
                .header("content-disposition", file("xlsx"))
            }
        }
        _ => {
            // JSON is paged like the anomaly lists; the totals are of the whole list.
            let page = count_param(req, "page", 1, u64::from(u32::MAX))?;
            let page_size = count_param(req, "page_size", 50, MAX_PAGE_SIZE)?;
            let totals = worklist::door_to_door_totals(env.sql, by, region)?;
            let items = worklist::door_to_door_page(env.sql, &tree, by, region, detail, page, page_size)?;
            audit_read(items.len(), Some((page, page_size)))?;
            Response::json(
                200,
                &json!({
                    "region": region_info(&tree, region),
                    "by": by,
                    "page": page,
                    "page_size": page_size,
                    "pages": totals.total.div_ceil(page_size),
                    "total": totals.total,
                    "unregistered": totals.unregistered,
                    "incomplete": totals.incomplete,
                    "masked": detail == Detail::Masked,
                    "items": items,
                    "computed_at": env.now.to_rfc3339(),
                }),
            )
        }
    };
    Ok(response.header("cache-control", "no-store"))
}

/// `GET /api/v1/stats/trend?region=&by=`: the daily snapshots of a region's figures (the city or
/// a county; public like their overview), oldest first.
fn trend_series(env: &Env, req: &Request) -> ApiResult {
    let region = region_param(req)?;
    let by = by_param(req)?;
    authorise_region(env, req, region)?;
    if !matches!(region.level(), Level::City | Level::County) {
        return Err(ApiError::BadRequest {
            code: "invalid_parameter",
            message: "趋势按市和区县每日保存，请选择市或区县".into(),
        });
    }
    let tree = region_store::load_tree(env.sql)?;
    let points: Vec<Value> = trend::series(env.sql, by, region)?
        .into_iter()
        .map(|p| json!({"day": p.day, "figures": figures_json(&p.figures), "data_version": p.data_version, "taken_at": p.taken_at}))
        .collect();
    Ok(Response::json(
        200,
        &json!({
            "region": region_info(&tree, region),
            "by": by,
            "targets": {"registration_rate": REGISTRATION_TARGET, "completeness_rate": COMPLETENESS_TARGET},
            "points": points,
        }),
    )
    .header("cache-control", "no-cache"))
}

/// The snapshot the cron tick takes (see `stats::trend`): called from the intake component's
/// scheduled run, the app's one cron trigger.
pub fn scheduled_snapshot(env: &Env) -> anyhow::Result<bool> {
    Ok(trend::take_daily_snapshot(env.sql, env.now)?)
}

const DASHBOARD_HTML: &str = include_str!("../../assets/dashboard/index.html");
const DASHBOARD_JS: &str = include_str!("../../assets/dashboard/app.js");
const DASHBOARD_CSS: &str = include_str!("../../assets/dashboard/app.css");

/// The dashboard script with the names it shows filled in from the one place each is defined.
fn dashboard_js() -> String {
    let schemes: Vec<[&str; 2]> = crate::codes::Scheme::ALL.iter().map(|s| [s.code(), s.name_zh()]).collect();
    let anomaly_types: Vec<[&str; 2]> = AnomalyType::ALL.iter().map(|t| [t.code(), t.name_zh()]).collect();
    let fields: serde_json::Map<String, Value> = crate::completeness::MANDATORY_FIELDS
        .iter()
        .map(|f| (f.as_str().to_string(), Value::from(f.name_zh())))
        .collect();
    let codes = json!({"schemes": schemes, "anomalies": anomaly_types, "fields": fields, "city": CITY});
    DASHBOARD_JS.replace("__CODES__", &codes.to_string())
}

fn asset(content_type: &str, body: &str) -> Response {
    Response::with_body(200, content_type, body.as_bytes().to_vec()).header("cache-control", "no-cache")
}
