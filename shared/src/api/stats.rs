//! Figures, anomaly and work lists, and the dashboard (the `stats` component).
//!
//! Figures are cached in the key-value store under the database's data version, which intake and
//! registration bump in the same transaction as every change: a cached answer is served only
//! while no change has happened since it was computed, so the cache never hides one.

use super::{health, ApiError, ApiResult, Env, Request, Response};
use crate::auth::{Principal, Role};
use crate::figures::{figures_for, figures_grouped, Attribute, Figures, COMPLETENESS_TARGET, REGISTRATION_TARGET};
use crate::regions::{Level, RegionCode};
use crate::storage::KvExt;
use crate::{region_store, store};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The city the app serves; the default region of every figure.
pub const CITY: &str = "510400";

/// Routes one request of the `stats` component.
pub fn route(env: &Env, req: &Request) -> ApiResult {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/v1/stats/health") => health(env, "stats"),
        ("GET", "/api/v1/stats/overview") => overview(env, req),
        (_, "/api/v1/stats/overview") => Err(ApiError::MethodNotAllowed { allow: "GET" }),
        _ => Err(ApiError::not_found()),
    }
}

/// What the overview returns; also what is cached.
#[derive(Serialize, Deserialize)]
struct Overview {
    region: RegionInfo,
    by: Attribute,
    targets: serde_json::Value,
    figures: serde_json::Value,
    children: Vec<ChildFigures>,
    data_version: i64,
    computed_at: String,
}

#[derive(Serialize, Deserialize)]
struct RegionInfo {
    code: String,
    name: Option<String>,
    level: String,
}

#[derive(Serialize, Deserialize)]
struct ChildFigures {
    code: String,
    name: Option<String>,
    figures: serde_json::Value,
}

/// `GET /api/v1/stats/overview?region=&by=hukou|residence`: the figures of DOMAIN §7 for a region
/// and each child region, against the 90%/80% targets. Public for the city and its counties;
/// below that, staff and collectors of the region, and admins.
fn overview(env: &Env, req: &Request) -> ApiResult {
    let region = region_param(req)?;
    let by = match req.query_param("by").as_deref() {
        None | Some("") => Attribute::Hukou,
        Some(text) => Attribute::parse(text).ok_or_else(|| ApiError::BadRequest {
            code: "invalid_parameter",
            message: "by 只能是 hukou 或 residence".into(),
        })?,
    };
    authorise_region(env, req, region)?;

    let version = store::data_version(env.sql)?;
    let key = format!("stats:overview:{}:{}", by.as_str(), region.as_str());
    if let Some(cached) = env.kv.get_json::<Overview>(&key)? {
        if cached.data_version == version {
            return Ok(overview_response(&cached, true));
        }
    }
    let tree = region_store::load_tree(env.sql)?;
    let own = figures_for(env.sql, by, region)?;
    let children = match child_code_len(region) {
        Some(len) => figures_grouped(env.sql, by, region, len)?
            .into_iter()
            .map(|f| ChildFigures {
                name: RegionCode::parse(&f.region).ok().and_then(|c| tree.name(c.value)).map(str::to_string),
                code: f.region.clone(),
                figures: figures_json(&f),
            })
            .collect(),
        None => Vec::new(),
    };
    let body = Overview {
        region: RegionInfo {
            code: region.as_str().to_string(),
            name: tree.name(region).map(str::to_string),
            level: format!("{:?}", region.level()).to_lowercase(),
        },
        by,
        targets: json!({"registration_rate": REGISTRATION_TARGET, "completeness_rate": COMPLETENESS_TARGET}),
        figures: figures_json(&own),
        children,
        data_version: version,
        computed_at: env.now.to_rfc3339(),
    };
    env.kv.set_json(&key, &body)?;
    Ok(overview_response(&body, false))
}

fn overview_response(body: &Overview, cached: bool) -> Response {
    Response::json(200, body)
        .header("x-canbao-cache", if cached { "hit" } else { "miss" })
        .header("cache-control", "no-cache")
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
