//! The HTTP shapes every handler speaks, free of any runtime: a request as the component received
//! it, a response to send, and `ApiError` with the one function that turns an error into the
//! contract's error body. Components translate Spin's types to and from these; tests use them
//! natively.

use crate::error::FieldError;
use serde::Serialize;

/// A request as a handler sees it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// The URL path, e.g. `/api/v1/lookup`.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
    /// The client's address as the runtime reports it (`spin-client-addr`), without the port.
    pub client_ip: Option<String>,
}

impl Request {
    /// A request with a method and a path-and-query, for tests.
    pub fn new(method: &str, path_and_query: &str) -> Self {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        Self { method: method.to_string(), path: path.to_string(), query: query.to_string(), ..Default::default() }
    }

    /// The first value of a header (name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The first value of a query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded_pairs(&self.query).find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The path split into its non-empty segments.
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// The media type of the body without parameters, lower case (`application/json`).
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
    }
}

/// Decodes `a=1&b=%E5%BC%A0` into pairs (`+` is a space).
pub fn form_urlencoded_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k), percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A response to send.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// Headers to send.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON response with a status.
    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        let body = serde_json::to_vec(value).expect("response values always serialise");
        Self { status, headers: vec![("content-type".into(), "application/json; charset=utf-8".into())], body }
    }

    /// A response with a body and its media type.
    pub fn with_body(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self { status, headers: vec![("content-type".into(), content_type.into())], body: body.into() }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// The first value of a header.
    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Everything a handler can fail with, each mapped to one status and error code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request itself is malformed.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 401: no token where one is needed, or a token that is not known.
    #[error("{message}")]
    Unauthorized { code: &'static str, message: String },
    /// 403: the caller may not do this (role, source or region).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    /// 404: nothing here.
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// 405: the path exists, the method does not.
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    /// 409: a replay that conflicts with what was first sent.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 413: the body is larger than allowed.
    #[error("request body over {limit} bytes")]
    TooLarge { limit: u64 },
    /// 415: the body is not in a media type this endpoint takes.
    #[error("unsupported media type")]
    UnsupportedMediaType { expected: &'static str },
    /// 422: fields that failed validation, all at once.
    #[error("{} invalid fields", .0.len())]
    Validation(Vec<FieldError>),
    /// 429: too many requests; retry after this many seconds.
    #[error("rate limited")]
    RateLimited { retry_after_secs: u64 },
    /// 503: a dependency (store, database) is not answering.
    #[error("{0}")]
    Unavailable(String),
    /// 500: a fault of ours. The message goes to the log, never to the client.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    fields: &'a [FieldError],
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest { .. } => 400,
            ApiError::Unauthorized { .. } => 401,
            ApiError::Forbidden { .. } => 403,
            ApiError::NotFound { .. } => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Conflict { .. } => 409,
            ApiError::TooLarge { .. } => 413,
            ApiError::UnsupportedMediaType { .. } => 415,
            ApiError::Validation(_) => 422,
            ApiError::RateLimited { .. } => 429,
            ApiError::Unavailable(_) => 503,
            ApiError::Internal(_) => 500,
        }
    }

    /// The contract's error body `{"error":{"code","message","fields"}}` with its status and
    /// headers. The one place an error becomes a response.
    pub fn into_response(self) -> Response {
        let status = self.status();
        let (code, message): (&str, String) = match &self {
            ApiError::BadRequest { code, message }
            | ApiError::Unauthorized { code, message }
            | ApiError::Forbidden { code, message }
            | ApiError::NotFound { code, message }
            | ApiError::Conflict { code, message } => (code, message.clone()),
            ApiError::MethodNotAllowed { .. } => ("method_not_allowed", "不支持该请求方法".into()),
            ApiError::TooLarge { limit } => ("too_large", format!("请求内容超过 {} 字节的上限", limit)),
            ApiError::UnsupportedMediaType { expected } => {
                ("unsupported_media_type", format!("请以 {} 格式提交", expected))
            }
            ApiError::Validation(_) => ("validation", "提交的信息有误，请按提示修改".into()),
            ApiError::RateLimited { .. } => ("rate_limited", "请求过于频繁，请稍后再试".into()),
            ApiError::Unavailable(_) => ("unavailable", "服务暂时不可用，请稍后再试".into()),
            ApiError::Internal(_) => ("internal", "服务内部错误，请稍后再试".into()),
        };
        let fields: &[FieldError] = match &self {
            ApiError::Validation(f) => f,
            _ => &[],
        };
        let mut response = Response::json(status, &ErrorBody { error: ErrorDetail { code, message, fields } });
        match self {
            ApiError::RateLimited { retry_after_secs } => {
                response = response.header("retry-after", retry_after_secs.to_string())
            }
            ApiError::MethodNotAllowed { allow } => response = response.header("allow", allow),
            ApiError::Unauthorized { .. } => response = response.header("www-authenticate", "Bearer"),
            _ => {}
        }
        response
    }

    /// 404 with the generic not-found body.
    pub fn not_found() -> Self {
        ApiError::NotFound { code: "not_found", message: "未找到".into() }
    }

    /// 400 for a body that is not valid JSON or not the expected shape.
    pub fn bad_json(detail: impl std::fmt::Display) -> Self {
        ApiError::BadRequest { code: "malformed_json", message: format!("请求内容不是有效的 JSON：{}", detail) }
    }
}

impl From<crate::storage::StorageError> for ApiError {
    /// A store the runtime cannot open is a 503 (try again); anything else a storage call
    /// fails with is a fault of ours (500).
    fn from(e: crate::storage::StorageError) -> Self {
        match e {
            crate::storage::StorageError::Unavailable(message) => ApiError::Unavailable(message),
            other => ApiError::Internal(other.into()),
        }
    }
}

/// What a handler returns.
pub type ApiResult = Result<Response, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Reason;

    #[test]
    fn error_body_follows_the_contract() {
        let r = ApiError::Validation(vec![FieldError::new("id_number", Reason::Checksum, "校验位错误")]).into_response();
        assert_eq!(r.status, 422);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error"]["code"], "validation");
        assert_eq!(v["error"]["fields"][0]["field"], "id_number");
        assert_eq!(v["error"]["fields"][0]["code"], "checksum");
        let r = ApiError::RateLimited { retry_after_secs: 42 }.into_response();
        assert_eq!((r.status, r.get_header("retry-after")), (429, Some("42")));
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let r = ApiError::Internal(anyhow::anyhow!("secret 510402199001011234")).into_response();
        assert_eq!(r.status, 500);
        assert!(!String::from_utf8(r.body).unwrap().contains("5104021990"));
    }

    #[test]
    fn query_parameters_are_percent_decoded() {
        let r = Request::new("GET", "/api/v1/lookup?id_number=11010519491231002X&name=%E5%BC%A0%E4%B8%89");
        assert_eq!(r.query_param("name").as_deref(), Some("张三"));
        assert_eq!(r.query_param("id_number").as_deref(), Some("11010519491231002X"));
        assert_eq!(r.query_param("missing"), None);
    }
}
