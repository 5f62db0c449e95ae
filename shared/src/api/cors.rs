//! Cross-origin access for city portals: the origins in the `cors_origins` variable may call the
//! public lookup API from a browser; every other origin gets no CORS headers at all, so the
//! browser keeps the answer from the page. `Vary: Origin` goes on every answer so that a cache
//! never hands one origin's headers to another.

use super::{Env, Request, Response};

/// Methods a portal may use.
const ALLOW_METHODS: &str = "GET, OPTIONS";
/// Request headers a portal may send.
const ALLOW_HEADERS: &str = "Content-Type";
/// Response headers a portal's script may read (the wait after a 429).
const EXPOSE_HEADERS: &str = "Retry-After";
/// How long a browser may reuse a preflight answer, in seconds.
const MAX_AGE_SECS: &str = "600";

/// The origins allowed to call the API from a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cors {
    origins: Vec<String>,
}

impl Cors {
    /// Parses a comma-separated origin list (`https://www.example.gov.cn, http://portal:8080`);
    /// trailing slashes are ignored, `*` allows any origin.
    pub fn parse(list: &str) -> Cors {
        let origins = list
            .split(',')
            .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|o| !o.is_empty())
            .collect();
        Cors { origins }
    }

    /// The origins of the `cors_origins` variable.
    pub fn from_env(env: &Env) -> Cors {
        Cors::parse(&env.var_or("cors_origins", ""))
    }

    /// The request's `Origin` if it is allowed.
    fn allowed_origin<'r>(&self, request: &'r Request) -> Option<&'r str> {
        let origin = request.header("origin")?;
        let wanted = origin.trim_end_matches('/').to_ascii_lowercase();
        self.origins.iter().any(|o| o == "*" || *o == wanted).then_some(origin)
    }

    /// The answer to a preflight (`OPTIONS`): 204, with the allowed methods, headers and max age
    /// for an allowed origin, and nothing that lets the browser proceed for any other.
    pub fn preflight(&self, request: &Request) -> Response {
        let response = Response::with_body(204, "text/plain; charset=utf-8", Vec::new());
        let response = match self.allowed_origin(request) {
            Some(_) => response
                .header("access-control-allow-methods", ALLOW_METHODS)
                .header("access-control-allow-headers", ALLOW_HEADERS)
                .header("access-control-max-age", MAX_AGE_SECS),
            None => response,
        };
        self.apply(request, response)
    }

    /// Adds `Vary: Origin`, and for an allowed origin `Access-Control-Allow-Origin` (that origin)
    /// and the exposed headers.
    pub fn apply(&self, request: &Request, response: Response) -> Response {
        let response = response.header("vary", "Origin");
        match self.allowed_origin(request) {
            Some(origin) => response
                .header("access-control-allow-origin", origin)
                .header("access-control-expose-headers", EXPOSE_HEADERS),
            None => response,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(origin: &str) -> Request {
        let mut r = Request::new("GET", "/api/v1/lookup");
        r.headers.push(("origin".into(), origin.into()));
        r
    }

    #[test]
    fn allowed_origins_get_headers_and_others_none() {
        let cors = Cors::parse(" https://portal.example/ ,http://127.0.0.1:8080");
        let ok = cors.apply(&from("https://portal.example"), Response::with_body(200, "text/plain", ""));
        assert_eq!(ok.get_header("access-control-allow-origin"), Some("https://portal.example"));
        assert_eq!(ok.get_header("vary"), Some("Origin"));
        let refused = cors.apply(&from("https://evil.example"), Response::with_body(200, "text/plain", ""));
        assert_eq!(refused.get_header("access-control-allow-origin"), None);
        assert_eq!(refused.get_header("vary"), Some("Origin"));
        let no_origin = cors.apply(&Request::new("GET", "/"), Response::with_body(200, "text/plain", ""));
        assert_eq!(no_origin.get_header("access-control-allow-origin"), None);
    }

    #[test]
    fn preflight_answers_only_allowed_origins() {
        let cors = Cors::parse("http://127.0.0.1:8080");
        let ok = cors.preflight(&from("http://127.0.0.1:8080"));
        assert_eq!(ok.status, 204);
        assert_eq!(ok.get_header("access-control-allow-methods"), Some(ALLOW_METHODS));
        assert_eq!(ok.get_header("access-control-max-age"), Some(MAX_AGE_SECS));
        let refused = cors.preflight(&from("http://127.0.0.1:9090"));
        assert_eq!(refused.get_header("access-control-allow-methods"), None);
        assert_eq!(refused.get_header("access-control-allow-origin"), None);
        assert!(Cors::parse("").allowed_origin(&from("http://x")).is_none());
        assert!(Cors::parse("*").allowed_origin(&from("http://x")).is_some());
    }
}
