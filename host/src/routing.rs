//! Spin's HTTP routing: route syntax, which route wins, and what the component is told about
//! the match.
//!
//! Routes are `/exact/path`, `/prefix/...` (wildcard, also matches `/prefix` itself), `/...`
//! (everything) and `:name` parameter segments. An exact route beats any wildcard; among
//! wildcards the longest prefix wins; literal segments beat parameters.

use anyhow::{bail, Result};

/// A parsed `route` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    raw: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// The outcome of matching a path against a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// The part of the path after the route's fixed prefix (`spin-path-info`); empty for exact.
    pub path_info: String,
    /// `:name` parameters with the segment each matched.
    pub params: Vec<(String, String)>,
}

impl Route {
    /// Parses a route as written in `spin.toml`.
    pub fn parse(raw: &str) -> Result<Route> {
        if !raw.starts_with('/') {
            bail!("route \"{raw}\" must start with '/'");
        }
        let body = raw.trim_end_matches('/');
        let mut parts: Vec<&str> = if body.is_empty() {
            vec![]
        } else {
            body[1..].split('/').collect()
        };
        let wildcard = parts.last() == Some(&"...");
        if wildcard {
            parts.pop();
        }
        let mut segments = Vec::new();
        for p in parts {
            if p.is_empty() {
                bail!("route \"{raw}\" has an empty segment ('//')");
            }
            if p == "..." {
                bail!("route \"{raw}\": '...' is only allowed as the last segment");
            }
            if p.contains("...") || p.contains(char::is_whitespace) || p.contains(['?', '#']) {
                bail!("route \"{raw}\" has an invalid segment \"{p}\"");
            }
            match p.strip_prefix(':') {
                Some("") => bail!("route \"{raw}\" has a parameter without a name"),
                Some(name) => segments.push(Segment::Param(name.to_string())),
                None => segments.push(Segment::Literal(p.to_string())),
            }
        }
        Ok(Route {
            raw: raw.to_string(),
            segments,
            wildcard,
        })
    }

    /// The route as written (`spin-matched-route`, `spin-raw-component-route`).
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Whether the route ends in `/...`.
    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }

    /// The route without its trailing `/...` (`spin-component-route`).
    pub fn base(&self) -> String {
        if self.wildcard {
            let b = self
                .raw
                .trim_end_matches('/')
                .trim_end_matches("...")
                .trim_end_matches('/');
            b.to_string()
        } else {
            self.raw.clone()
        }
    }

    /// Matches a request path (without query); `None` when the route does not apply.
    pub fn matches(&self, path: &str) -> Option<RouteMatch> {
        let trimmed = path.trim_end_matches('/');
        let parts: Vec<&str> = if trimmed.is_empty() {
            vec![]
        } else {
            trimmed[1..].split('/').collect()
        };
        if parts.len() < self.segments.len()
            || (!self.wildcard && parts.len() != self.segments.len())
        {
            return None;
        }
        let mut params = Vec::new();
        for (seg, part) in self.segments.iter().zip(&parts) {
            match seg {
                Segment::Literal(l) if l == part => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => params.push((name.clone(), part.to_string())),
            }
        }
        let path_info = if self.wildcard {
            let rest: Vec<&str> = parts[self.segments.len()..].to_vec();
            let mut info = if rest.is_empty() {
                String::new()
            } else {
                format!("/{}", rest.join("/"))
            };
            if path.ends_with('/') && path.len() > 1 {
                info.push('/');
            }
            if info.is_empty() && path == "/" {
                info.push('/');
            }
            info
        } else {
            String::new()
        };
        Some(RouteMatch { path_info, params })
    }

    /// Orders candidate routes: greater is more specific.
    fn specificity(&self) -> (bool, usize, usize) {
        let literals = self
            .segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        (!self.wildcard, self.segments.len(), literals)
    }
}

/// All HTTP routes of an application, resolving a path to the winning entry.
#[derive(Debug, Clone, Default)]
pub struct Router<T> {
    routes: Vec<(Route, T)>,
}

impl<T> Router<T> {
    /// Builds a router; on duplicate routes the first one declared wins, as in Spin.
    pub fn new(routes: Vec<(Route, T)>) -> Router<T> {
        Router { routes }
    }

    /// The routes in declaration order.
    pub fn routes(&self) -> impl Iterator<Item = &(Route, T)> {
        self.routes.iter()
    }

    /// The most specific route matching `path`, if any.
    pub fn route(&self, path: &str) -> Option<(&Route, &T, RouteMatch)> {
        let mut best: Option<(&Route, &T, RouteMatch)> = None;
        for (route, value) in &self.routes {
            if let Some(m) = route.matches(path) {
                let better = match &best {
                    None => true,
                    Some((b, _, _)) => route.specificity() > b.specificity(),
                };
                if better {
                    best = Some((route, value, m));
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router<&'static str> {
        Router::new(
            [
                "/...",
                "/api/...",
                "/api/v1/lookup",
                "/api/v1/...",
                "/api/v1/persons/:id",
                "/static/...",
            ]
            .into_iter()
            .map(|r| (Route::parse(r).unwrap(), r))
            .collect(),
        )
    }

    #[test]
    fn exact_beats_wildcard_and_longest_wildcard_wins() {
        let r = router();
        assert_eq!(r.route("/api/v1/lookup").unwrap().1, &"/api/v1/lookup");
        assert_eq!(r.route("/api/v1/lookup/x").unwrap().1, &"/api/v1/...");
        assert_eq!(r.route("/api/v2").unwrap().1, &"/api/...");
        assert_eq!(r.route("/other").unwrap().1, &"/...");
        assert_eq!(
            r.route("/api/v1/persons/42").unwrap().1,
            &"/api/v1/persons/:id"
        );
    }

    #[test]
    fn path_info_and_params() {
        let r = router();
        let (_, _, m) = r.route("/api/v1/lookup/a/b").unwrap();
        assert_eq!(m.path_info, "/lookup/a/b");
        let (_, _, m) = r.route("/api/v1/persons/42").unwrap();
        assert_eq!(m.params, vec![("id".to_string(), "42".to_string())]);
        assert_eq!(m.path_info, "");
        let (_, _, m) = r.route("/static").unwrap();
        assert_eq!(m.path_info, "");
    }

    #[test]
    fn bad_routes_are_refused() {
        for bad in ["api", "/a//b", "/a/.../b", "/:"] {
            assert!(Route::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Route::parse("/api/...").unwrap().base(), "/api");
        assert_eq!(Route::parse("/...").unwrap().base(), "");
    }

    #[test]
    fn no_match_without_catch_all() {
        let r = Router::new(vec![(Route::parse("/a").unwrap(), ())]);
        assert!(r.route("/b").is_none());
        assert!(r.route("/a/b").is_none());
    }
}
