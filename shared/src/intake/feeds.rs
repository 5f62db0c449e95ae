//! Feeds: department files pulled on each scheduled run from the URLs in the `intake_feeds`
//! variable (`[{"source","url","format"}]`). Each fetch sends the validators of the last one
//! (`If-None-Match`, `If-Modified-Since`); a batch is queued only when the content changed (the
//! same bytes are the same batch anyway). A failing feed is recorded and retried next run; it
//! never fails the job. Only the `intake_feed_origin` may be fetched (it is also the component's
//! `allowed_outbound_hosts`), so a feed elsewhere is refused and reported.

use super::decode::TableLimits;
use super::{queue_file, QueueError, Queued, Upload};
use crate::codes::Source;
use crate::storage::{Sql, StorageError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One configured feed.
#[derive(Debug, Clone, Deserialize)]
pub struct Feed {
    /// The delivering source.
    pub source: Source,
    /// Where the file is served.
    pub url: String,
    /// `csv` or `xlsx` (informational: the format is detected from the bytes).
    #[serde(default)]
    pub format: Option<String>,
}

/// What a GET returned.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    /// HTTP status.
    pub status: u16,
    /// `ETag`, if sent.
    pub etag: Option<String>,
    /// `Last-Modified`, if sent.
    pub last_modified: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// Outbound HTTP, as the runtime provides it.
pub trait Fetcher {
    /// GETs `url` with extra request headers; `Err` for a transport failure.
    fn get(&self, url: &str, headers: &[(&str, String)]) -> Result<Fetched, String>;
}

/// What one feed did in a run.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FeedRun {
    /// The feed's URL.
    pub url: String,
    /// `queued`, `unchanged` (same bytes as a batch already queued), `not_modified` (304),
    /// `failed` or `refused` (not the allowed origin).
    pub outcome: String,
    /// The batch queued or found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_id: Option<String>,
    /// Why it failed or was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

const SELECT_STATE: &str = "SELECT etag, last_modified FROM intake_feeds WHERE url = ?";
const RECORD: &str = "INSERT INTO intake_feeds (url, source, etag, last_modified, last_checked_at, last_status, last_error,
        last_batch_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
    ON CONFLICT (url) DO UPDATE SET source = ?2, etag = COALESCE(?3, etag), last_modified = COALESCE(?4, last_modified),
        last_checked_at = ?5, last_status = ?6, last_error = ?7, last_batch_id = COALESCE(?8, last_batch_id)";

/// Pulls every feed of `feeds_json`; a malformed list is reported as one failed entry.
/// Each file is queued with `limits` like an upload.
pub fn pull(
    db: &dyn Sql,
    feeds_json: &str,
    origin: &str,
    fetcher: &dyn Fetcher,
    limits: &TableLimits,
    now: DateTime<Utc>,
) -> Result<Vec<FeedRun>, StorageError> {
    let feeds: Vec<Feed> = match serde_json::from_str(feeds_json) {
        Ok(f) => f,
        Err(e) => {
            let error = Some(format!("变量 intake_feeds 不是有效的列表：{e}"));
            return Ok(vec![FeedRun { url: String::new(), outcome: "failed".into(), batch_id: None, error }]);
        }
    };
    feeds.iter().map(|f| pull_one(db, f, origin, fetcher, limits, now)).collect()
}

/// Whether `url` is on `origin` (scheme, host and port equal, then a path).
fn on_origin(url: &str, origin: &str) -> bool {
    let origin = origin.trim_end_matches('/');
    url.strip_prefix(origin).is_some_and(|rest| rest.is_empty() || rest.starts_with('/') || rest.starts_with('?'))
}

fn pull_one(
    db: &dyn Sql,
    feed: &Feed,
    origin: &str,
    fetcher: &dyn Fetcher,
    limits: &TableLimits,
    now: DateTime<Utc>,
) -> Result<FeedRun, StorageError> {
    let run = |outcome: &str, batch_id: Option<String>, error: Option<String>| FeedRun {
        url: feed.url.clone(),
        outcome: outcome.into(),
        batch_id,
        error,
    };
    let result = if !on_origin(&feed.url, origin) {
        run("refused", None, Some(format!("只允许从 {origin} 拉取数据")))
    } else {
        let state = db.query_one(SELECT_STATE, &[feed.url.as_str().into()])?;
        let mut headers = Vec::new();
        if let Some(s) = &state {
            if let Some(etag) = s.get::<Option<String>>(0)? {
                headers.push(("if-none-match", etag));
            }
            if let Some(lm) = s.get::<Option<String>>(1)? {
                headers.push(("if-modified-since", lm));
            }
        }
        match fetcher.get(&feed.url, &headers) {
            Err(e) => run("failed", None, Some(e)),
            Ok(f) if f.status == 304 => run("not_modified", None, None),
            Ok(f) if f.status != 200 => run("failed", None, Some(format!("HTTP {}", f.status))),
            Ok(f) => {
                let name = feed.url.rsplit('/').next().filter(|n| !n.is_empty());
                let upload = Upload { source: feed.source, file_name: name, sheet: None, uploaded_by: "feed", bytes: &f.body, limits: *limits };
                let r = match queue_file(db, &upload, now) {
                    Ok(Queued::New(b)) => run("queued", Some(b.batch_id), b.error),
                    Ok(Queued::Existing(b)) => run("unchanged", Some(b.batch_id), None),
                    Err(QueueError::Decode(e)) => run("failed", None, Some(e.to_string())),
                    Err(QueueError::Storage(e)) => return Err(e),
                };
                db.exec(
                    RECORD,
                    &[
                        feed.url.as_str().into(),
                        feed.source.code().into(),
                        f.etag.into(),
                        f.last_modified.into(),
                        now.to_rfc3339().into(),
                        r.outcome.as_str().into(),
                        r.error.clone().into(),
                        r.batch_id.clone().into(),
                    ],
                )?;
                return Ok(r);
            }
        }
    };
    db.exec(
        RECORD,
        &[
            feed.url.as_str().into(),
            feed.source.code().into(),
            None::<String>.into(),
            None::<String>.into(),
            now.to_rfc3339().into(),
            result.outcome.as_str().into(),
            result.error.clone().into(),
            None::<String>.into(),
        ],
    )?;
    Ok(result)
}

/// Outbound HTTP through Spin's `wasi:http/outgoing-handler` (the component's allow-list applies).
#[cfg(feature = "spin")]
pub struct SpinFetcher;

#[cfg(feature = "spin")]
impl Fetcher for SpinFetcher {
    fn get(&self, url: &str, headers: &[(&str, String)]) -> Result<Fetched, String> {
        use spin_sdk::http::{Method, Request, Response};
        let mut builder = Request::builder();
        builder.method(Method::Get).uri(url);
        for (k, v) in headers {
            builder.header(*k, v.as_str());
        }
        let response: Response = spin_sdk::http::run(spin_sdk::http::send(builder.build())).map_err(|e| e.to_string())?;
        let header = |name: &str| response.header(name).and_then(|v| v.as_str()).map(str::to_string);
        Ok(Fetched {
            status: *response.status(),
            etag: header("etag"),
            last_modified: header("last-modified"),
            body: response.body().to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_allowed_origin_is_fetched() {
        let origin = "http://127.0.0.1:8080";
        assert!(on_origin("http://127.0.0.1:8080/ps.csv", origin));
        assert!(on_origin("http://127.0.0.1:8080", "http://127.0.0.1:8080/"));
        assert!(!on_origin("http://127.0.0.1:80801/ps.csv", origin));
        assert!(!on_origin("http://127.0.0.1:8080.evil.example/ps.csv", origin));
        assert!(!on_origin("https://other.example/ps.csv", origin));
    }
}
