//! Outbound HTTP: the `allowed_outbound_hosts` allow-list and the wasi:http hook that enforces it.
//!
//! Patterns are `scheme://host[:port]` with `*` for any scheme, host or port, `*.example.org`
//! for subdomains and `a-b` port ranges; a missing port means the scheme's default port.
//! Templates (`https://{{ feed_host }}`) are expanded at start-up, so this module sees plain text.

use anyhow::{bail, Context, Result};
use std::sync::Arc;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

/// The hosts one component may call.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    patterns: Vec<HostPattern>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct HostPattern {
    scheme: Option<String>,
    host: HostMatch,
    ports: PortMatch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Any,
    Exact(String),
    SubdomainOf(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortMatch {
    Any,
    Range(u16, u16),
    SchemeDefault,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl HostPattern {
    fn parse(text: &str) -> Result<HostPattern> {
        let (scheme, rest) = text
            .split_once("://")
            .with_context(|| format!("\"{text}\" needs a scheme, e.g. \"https://{text}\""))?;
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') {
            bail!("\"{text}\": paths are not allowed, only scheme://host:port");
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => (h, Some(p)),
            _ => (rest, None),
        };
        let host = match host {
            "" => bail!("\"{text}\" has no host"),
            "*" => HostMatch::Any,
            h if h.starts_with("*.") => HostMatch::SubdomainOf(h[1..].to_ascii_lowercase()),
            h if h.contains('*') => {
                bail!("\"{text}\": '*' is only allowed as the whole host or a leading \"*.\"")
            }
            h => HostMatch::Exact(h.to_ascii_lowercase()),
        };
        let ports = match port {
            None => PortMatch::SchemeDefault,
            Some("*") => PortMatch::Any,
            Some(p) => {
                let (a, b) = p.split_once('-').unwrap_or((p, p));
                let a: u16 = a
                    .parse()
                    .with_context(|| format!("\"{text}\": bad port \"{p}\""))?;
                let b: u16 = b
                    .parse()
                    .with_context(|| format!("\"{text}\": bad port \"{p}\""))?;
                PortMatch::Range(a, b)
            }
        };
        let scheme = match scheme {
            "*" => None,
            s if s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !s.is_empty() =>
            {
                Some(s.to_ascii_lowercase())
            }
            s => bail!("\"{text}\": bad scheme \"{s}\""),
        };
        Ok(HostPattern {
            scheme,
            host,
            ports,
        })
    }

    fn allows(&self, scheme: &str, host: &str, port: u16) -> bool {
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == scheme);
        let host_ok = match &self.host {
            HostMatch::Any => true,
            HostMatch::Exact(h) => h == host,
            HostMatch::SubdomainOf(suffix) => host.ends_with(suffix.as_str()),
        };
        let port_ok = match self.ports {
            PortMatch::Any => true,
            PortMatch::Range(a, b) => (a..=b).contains(&port),
            PortMatch::SchemeDefault => default_port(scheme) == Some(port),
        };
        scheme_ok && host_ok && port_ok
    }
}

impl AllowedHosts {
    /// Parses already-expanded patterns.
    pub fn parse<S: AsRef<str>>(patterns: &[S]) -> Result<AllowedHosts> {
        let patterns = patterns
            .iter()
            .map(|p| HostPattern::parse(p.as_ref()))
            .collect::<Result<_>>()
            .context("invalid allowed_outbound_hosts entry")?;
        Ok(AllowedHosts { patterns })
    }

    /// Whether a request to this URI may go out.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let Some(host) = uri.host() else { return false };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let Some(port) = uri.port_u16().or_else(|| default_port(&scheme)) else {
            return false;
        };
        self.patterns.iter().any(|p| p.allows(&scheme, &host, port))
    }
}

/// The wasi:http hooks of one component instance: the allow-list in front of the real client.
pub struct OutboundHooks {
    /// The component id, for the refusal log line.
    pub component: Arc<str>,
    /// The component's allow-list.
    pub allowed: Arc<AllowedHosts>,
}

type ResponseFuture = Box<
    dyn std::future::Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> ResponseFuture {
        _ = fut;
        if !self.allowed.allows(request.uri()) {
            let uri = request.uri();
            eprintln!(
                "[{}] outbound request to {}://{} refused: not in allowed_outbound_hosts",
                self.component,
                uri.scheme_str().unwrap_or("?"),
                uri.authority().map(|a| a.as_str()).unwrap_or("?"),
            );
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (res, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                res.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn std::future::Future<Output = _> + Send>,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(patterns: &[&str], uri: &str) -> bool {
        AllowedHosts::parse(patterns)
            .unwrap()
            .allows(&uri.parse().unwrap())
    }

    #[test]
    fn patterns() {
        assert!(allows(
            &["http://127.0.0.1:8080"],
            "http://127.0.0.1:8080/x"
        ));
        assert!(!allows(
            &["http://127.0.0.1:8080"],
            "http://127.0.0.1:8081/x"
        ));
        assert!(!allows(
            &["http://127.0.0.1:8080"],
            "https://127.0.0.1:8080/x"
        ));
        assert!(allows(&["http://localhost:*"], "http://localhost:1234/"));
        assert!(allows(
            &["https://feeds.example.org"],
            "https://feeds.example.org/a"
        ));
        assert!(!allows(
            &["https://feeds.example.org"],
            "https://feeds.example.org:8443/a"
        ));
        assert!(allows(&["https://*.example.org"], "https://a.example.org/"));
        assert!(!allows(&["https://*.example.org"], "https://example.com/"));
        assert!(allows(&["*://*:*"], "http://10.1.2.3:9/"));
        assert!(allows(
            &["http://localhost:3000-3010"],
            "http://localhost:3005/"
        ));
        assert!(!allows(&[], "http://localhost/"));
    }

    #[test]
    fn bad_patterns() {
        for bad in [
            "localhost",
            "http://",
            "http://a:b",
            "http://a/b",
            "http://a*b",
        ] {
            assert!(AllowedHosts::parse(&[bad]).is_err(), "{bad}");
        }
    }
}
