//! Who is calling: bearer tokens checked against the `access_tokens` variable (only SHA-256
//! hashes are configured, compared in constant time), and what each role may touch. Region
//! scoping lives here so no handler decides it on its own.

use crate::api::http::{ApiError, Request};
use crate::codes::Source;
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, everywhere.
    Admin,
    /// Bureau staff: read and correct persons in their region.
    Staff,
    /// Grid workers (网格员): collect registrations and read persons in their region.
    Collector,
    /// A department's data officer: upload files of their source.
    Department,
}

impl Role {
    /// The role's name as configured.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Staff => "staff",
            Role::Collector => "collector",
            Role::Department => "department",
        }
    }
}

/// One configured token, by the hash of its secret.
#[derive(Debug, Clone, Deserialize)]
pub struct TokenEntry {
    /// Lower-case hex SHA-256 of the token.
    pub sha256: String,
    /// Its role.
    pub role: Role,
    /// Region code prefix (staff, collector).
    #[serde(default)]
    pub region: Option<String>,
    /// Source code (department).
    #[serde(default)]
    pub source: Option<Source>,
    /// Who holds it; goes into provenance (`staff:<name>`) and the audit trail.
    #[serde(default)]
    pub name: String,
}

/// The configured tokens.
#[derive(Debug, Clone, Default)]
pub struct AccessTokens {
    entries: Vec<([u8; 32], TokenEntry)>,
}

impl AccessTokens {
    /// Parses the `access_tokens` variable (a JSON list of [`TokenEntry`]).
    pub fn from_json(text: &str) -> anyhow::Result<Self> {
        let list: Vec<TokenEntry> = serde_json::from_str(text)
            .map_err(|e| anyhow::anyhow!("variable access_tokens is not a JSON list of tokens: {e}"))?;
        let mut entries = Vec::with_capacity(list.len());
        for entry in list {
            let mut hash = [0u8; 32];
            hex::decode_to_slice(entry.sha256.trim(), &mut hash)
                .map_err(|_| anyhow::anyhow!("access_tokens: '{}' is not a hex SHA-256", entry.name))?;
            let scoped = matches!(entry.role, Role::Staff | Role::Collector);
            if scoped && entry.region.as_deref().unwrap_or("").is_empty() {
                anyhow::bail!("access_tokens: {} token '{}' needs a region", entry.role.as_str(), entry.name);
            }
            if entry.role == Role::Department && entry.source.is_none() {
                anyhow::bail!("access_tokens: department token '{}' needs a source", entry.name);
            }
            entries.push((hash, entry));
        }
        Ok(Self { entries })
    }

    /// Resolves the caller of a request: the public without an `Authorization` header, 401 for a
    /// malformed or unknown token.
    pub fn authenticate(&self, request: &Request) -> Result<Principal, ApiError> {
        let Some(value) = request.header("authorization") else { return Ok(Principal::Public) };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::Unauthorized {
                code: "malformed_token",
                message: "Authorization 应为 “Bearer <令牌>”".into(),
            })?;
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Every entry is compared, whatever matches, so timing says nothing about which did.
        let mut found = None;
        for (hash, entry) in &self.entries {
            if constant_time_eq(hash, &presented) {
                found = Some(entry);
            }
        }
        found.map(|e| Principal::Token(e.clone())).ok_or_else(|| ApiError::Unauthorized {
            code: "unknown_token",
            message: "令牌无效或已停用".into(),
        })
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The caller of one request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// No token: residents, portals.
    Public,
    /// A configured token.
    Token(TokenEntry),
}

impl Principal {
    /// The role, if any.
    pub fn role(&self) -> Option<Role> {
        match self {
            Principal::Public => None,
            Principal::Token(t) => Some(t.role),
        }
    }

    /// The name written to the audit trail and to provenance.
    pub fn actor(&self) -> String {
        match self {
            Principal::Public => "public".into(),
            Principal::Token(t) => format!("{}:{}", t.role.as_str(), t.name),
        }
    }

    /// Whether the caller may see and change persons attributed to `region` (admins anywhere,
    /// staff and collectors inside their prefix).
    pub fn covers_region(&self, region: &str) -> bool {
        match self {
            Principal::Token(t) if t.role == Role::Admin => true,
            Principal::Token(t) if matches!(t.role, Role::Staff | Role::Collector) => {
                t.region.as_deref().is_some_and(|scope| region.starts_with(area_prefix(scope)))
            }
            _ => false,
        }
    }

    /// Requires one of `roles`: 401 for the public, 403 for another role.
    pub fn require(&self, roles: &[Role]) -> Result<&TokenEntry, ApiError> {
        match self {
            Principal::Public => Err(ApiError::Unauthorized {
                code: "token_required",
                message: "需要登录令牌".into(),
            }),
            Principal::Token(t) if roles.contains(&t.role) => Ok(t),
            Principal::Token(_) => Err(ApiError::Forbidden {
                code: "role_not_allowed",
                message: "当前身份无权进行此操作".into(),
            }),
        }
    }

    /// Requires that the caller covers `region` (see [`Principal::covers_region`]), else 403.
    pub fn require_region(&self, region: &str) -> Result<(), ApiError> {
        if self.covers_region(region) {
            Ok(())
        } else {
            Err(ApiError::Forbidden { code: "outside_region", message: "该人员不在您负责的区域内".into() })
        }
    }
}

/// A token's region as a code prefix: a full code stands for its whole area (`510400` → `5104`),
/// anything else is taken as the prefix it is.
fn area_prefix(scope: &str) -> &str {
    match crate::regions::RegionCode::parse(scope) {
        Ok(code) if code.value.as_str() == scope => &scope[..code.value.area_prefix().len()],
        _ => scope,
    }
}

/// The hex SHA-256 of a token, for writing `access_tokens` entries.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> AccessTokens {
        AccessTokens::from_json(&format!(
            r#"[{{"sha256":"{}","role":"staff","region":"510402","name":"王"}},
                {{"sha256":"{}","role":"department","source":"hrss","name":"人社"}}]"#,
            token_hash("s3cret"),
            token_hash("dept")
        ))
        .unwrap()
    }

    fn with_auth(value: &str) -> Request {
        let mut r = Request::new("GET", "/");
        r.headers.push(("authorization".into(), value.into()));
        r
    }

    #[test]
    fn tokens_resolve_to_their_entry_and_unknown_ones_are_refused() {
        let t = tokens();
        let p = t.authenticate(&with_auth("Bearer s3cret")).unwrap();
        assert_eq!(p.role(), Some(Role::Staff));
        assert!(p.covers_region("510402001001"));
        assert!(!p.covers_region("510403001001"));
        let city = AccessTokens::from_json(&format!(
            r#"[{{"sha256":"{}","role":"staff","region":"510400","name":"市局"}}]"#,
            token_hash("city")
        ))
        .unwrap();
        let city = city.authenticate(&with_auth("Bearer city")).unwrap();
        assert!(city.covers_region("510421001001") && !city.covers_region("510104001001"));
        assert_eq!(t.authenticate(&with_auth("Bearer nope")).unwrap_err().status(), 401);
        assert_eq!(t.authenticate(&with_auth("Basic abc")).unwrap_err().status(), 401);
        assert!(matches!(t.authenticate(&Request::new("GET", "/")).unwrap(), Principal::Public));
    }

    #[test]
    fn roles_are_enforced() {
        let t = tokens();
        let dept = t.authenticate(&with_auth("Bearer dept")).unwrap();
        assert_eq!(dept.require(&[Role::Admin, Role::Staff]).unwrap_err().status(), 403);
        assert_eq!(Principal::Public.require(&[Role::Admin]).unwrap_err().status(), 401);
        assert!(!dept.covers_region("510402"));
    }

    #[test]
    fn misconfigured_tokens_are_reported() {
        assert!(AccessTokens::from_json(r#"[{"sha256":"zz","role":"admin"}]"#).is_err());
        let no_region = format!(r#"[{{"sha256":"{}","role":"staff","name":"x"}}]"#, token_hash("a"));
        assert!(AccessTokens::from_json(&no_region).is_err());
    }
}
