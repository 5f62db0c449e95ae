//! The trend (趋势): a daily snapshot of the figures of the city and each county, by both
//! attributions, kept in `stats_snapshots`, one row per day (China time, UTC+8), region and
//! attribution. Every cron tick asks; the day's row is written when the data has changed since
//! it was last written (its data version), so each day ends with that day's closing figures and a
//! tick with nothing new does nothing.

use crate::figures::{figures_grouped, Attribute, Figures};
use crate::regions::RegionCode;
use crate::storage::{Sql, SqlExt, StorageError};
use crate::store::{data_version, timestamp};
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::Serialize;

/// The city whose figures are snapshotted.
const CITY: &str = "510400";

const DAY_VERSION: &str = "SELECT MIN(data_version) FROM stats_snapshots WHERE region = ? AND day = ?";
const UPSERT: &str = "INSERT INTO stats_snapshots (day, attribute, region, figures, data_version, taken_at)
    VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (region, attribute, day) DO UPDATE SET figures = excluded.figures,
    data_version = excluded.data_version, taken_at = excluded.taken_at WHERE excluded.data_version > data_version";
const SERIES: &str = "SELECT day, figures, data_version, taken_at FROM stats_snapshots
    WHERE region = ? AND attribute = ? ORDER BY day";

/// The day a time falls on in China (UTC+8): what a daily figure is dated.
pub fn china_day(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")).date_naive()
}

/// Writes today's snapshot of the city and county figures (both attributions) unless today's
/// is already at the current data version; returns whether it wrote. One transaction, so a tick
/// that dies half-way leaves the previous snapshot whole.
pub fn take_daily_snapshot(db: &dyn Sql, now: DateTime<Utc>) -> Result<bool, StorageError> {
    let day = china_day(now).format("%Y-%m-%d").to_string();
    let city = RegionCode::parse(CITY).expect("the city code is valid").value;
    let current = |db: &dyn Sql, version: i64| -> Result<bool, StorageError> {
        let stored = db.execute(DAY_VERSION, &[CITY.into(), day.as_str().into()])?.scalar::<Option<i64>>()?.flatten();
        Ok(stored.is_some_and(|v| v >= version))
    };
    if current(db, data_version(db)?)? {
        return Ok(false);
    }
    // Computed outside the write transaction: at 1.2 million people it takes a second or two,
    // and intake must not wait for it. The version read first is the one the figures are at least as new as.
    let version = data_version(db)?;
    let mut rows = Vec::new();
    for by in [Attribute::Hukou, Attribute::Residence] {
        let counties = figures_grouped(db, by, city, 6)?;
        let mut all = vec![Figures::total(city, &counties)];
        all.extend(counties);
        for f in all {
            let json = serde_json::to_string(&f).map_err(|e| StorageError::Json(e.to_string()))?;
            rows.push((by, f.region, json));
        }
    }
    db.transaction(|tx| {
        if current(tx, version)? {
            return Ok(false);
        }
        for (by, region, json) in &rows {
            tx.exec(
                UPSERT,
                &[
                    day.as_str().into(),
                    by.as_str().into(),
                    region.as_str().into(),
                    json.as_str().into(),
                    version.into(),
                    timestamp(now).into(),
                ],
            )?;
        }
        Ok(true)
    })
}

/// One day of the trend.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    /// The China-time day.
    pub day: String,
    /// The figures as they were that day.
    pub figures: Figures,
    /// The data version they were computed at.
    pub data_version: i64,
    /// When the snapshot was taken.
    pub taken_at: String,
}

/// The stored series of a region (the city or a county), oldest first.
pub fn series(db: &dyn Sql, by: Attribute, region: RegionCode) -> Result<Vec<Point>, StorageError> {
    let rows = db.execute(SERIES, &[region.as_str().into(), by.as_str().into()])?;
    rows.iter()
        .map(|r| {
            let figures: String = r.get(1)?;
            Ok(Point {
                day: r.get(0)?,
                figures: serde_json::from_str(&figures).map_err(|e| StorageError::Corrupt(e.to_string()))?,
                data_version: r.get(2)?,
                taken_at: r.get(3)?,
            })
        })
        .collect()
}
