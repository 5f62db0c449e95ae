//! The runtime configuration file (`--runtime-config-file`): extra key-value stores and SQLite
//! databases, in Spin's format.
//!
//! ```toml
//! [key_value_store.cache]
//! type = "spin"
//! path = "cache.db"        # relative to this file; omit for an in-memory store
//!
//! [key_value_store.default]
//! type = "redis"           # Spin's Redis key-value backend (Redis or Valkey)
//! url = "redis://127.0.0.1:6379"
//!
//! [sqlite_database.reports]
//! type = "spin"
//! path = "reports.db"
//! ```
//! Other backend types (`libsql`, Azure Cosmos, …) are refused at start-up with a clear message.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Store and database definitions from the runtime config file.
#[derive(Debug, Default, Clone)]
pub struct RuntimeConfig {
    /// `[key_value_store.<label>]` entries.
    pub key_value_stores: BTreeMap<String, Backend>,
    /// `[sqlite_database.<label>]` entries.
    pub sqlite_databases: BTreeMap<String, Backend>,
}

/// A backend definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// `type = "spin"`: a SQLite file (absolute path), or memory when no path is given.
    Spin {
        /// The file, resolved against the runtime config file's directory.
        path: Option<PathBuf>,
    },
    /// `type = "redis"` (key-value stores only): a Redis or Valkey server.
    Redis {
        /// `redis://[user:password@]host[:port][/db]`, checked when the file is read.
        url: String,
    },
}

#[derive(Deserialize, Default)]
struct Raw {
    #[serde(default)]
    key_value_store: BTreeMap<String, RawBackend>,
    #[serde(default)]
    sqlite_database: BTreeMap<String, RawBackend>,
}

#[derive(Deserialize)]
struct RawBackend {
    #[serde(rename = "type")]
    kind: String,
    path: Option<PathBuf>,
    url: Option<String>,
}

impl RuntimeConfig {
    /// Reads the file at `path`.
    pub fn load(path: &Path) -> Result<RuntimeConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the runtime config file {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base)
            .with_context(|| format!("invalid runtime config file {}", path.display()))
    }

    /// Parses runtime config text; relative paths are resolved against `base`.
    pub fn parse(text: &str, base: &Path) -> Result<RuntimeConfig> {
        let raw: Raw = toml::from_str(text)?;
        let spin = |label: String, b: RawBackend| (label, Backend::Spin { path: b.path.map(|p| base.join(p)) });
        let key_value_stores = raw
            .key_value_store
            .into_iter()
            .map(|(label, b)| match b.kind.as_str() {
                "spin" => Ok(spin(label, b)),
                "redis" => {
                    let Some(url) = b.url else {
                        bail!("[key_value_store.{label}]: type \"redis\" needs `url = \"redis://host:port\"`");
                    };
                    crate::kv_redis::check_url(&url)
                        .with_context(|| format!("[key_value_store.{label}]: bad Redis url"))?;
                    Ok((label, Backend::Redis { url }))
                }
                other => bail!(
                    "[key_value_store.{label}]: type \"{other}\" is not supported by canbao-host (only \"spin\" and \"redis\"); run under `spin up` for other backends"
                ),
            })
            .collect::<Result<BTreeMap<_, _>>>()?;
        let sqlite_databases = raw
            .sqlite_database
            .into_iter()
            .map(|(label, b)| match b.kind.as_str() {
                "spin" => Ok(spin(label, b)),
                other => bail!(
                    "[sqlite_database.{label}]: type \"{other}\" is not supported by canbao-host (only \"spin\"); run under `spin up` for other backends such as libsql"
                ),
            })
            .collect::<Result<BTreeMap<_, _>>>()?;
        Ok(RuntimeConfig {
            key_value_stores,
            sqlite_databases,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_file_and_unknown_types_refused() {
        let c = RuntimeConfig::parse(
            "[key_value_store.cache]\ntype = \"spin\"\npath = \"c.db\"\n[sqlite_database.mem]\ntype = \"spin\"\n",
            Path::new("/etc/app"),
        )
        .unwrap();
        assert_eq!(
            c.key_value_stores["cache"],
            Backend::Spin {
                path: Some("/etc/app/c.db".into())
            }
        );
        assert_eq!(c.sqlite_databases["mem"], Backend::Spin { path: None });
        let e = RuntimeConfig::parse(
            "[key_value_store.x]\ntype = \"azure_cosmos\"\n",
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.to_string().contains("azure_cosmos"), "{e}");
        let e = RuntimeConfig::parse(
            "[sqlite_database.default]\ntype = \"libsql\"\nurl = \"https://db.example\"\ntoken = \"t\"\n",
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.to_string().contains("libsql"), "{e}");
        // Redis is for key-value stores, not for SQLite databases.
        assert!(RuntimeConfig::parse(
            "[sqlite_database.default]\ntype = \"redis\"\nurl = \"redis://a\"\n",
            Path::new("."),
        )
        .is_err());
    }

    #[test]
    fn redis_stores_take_spin_s_keys_and_bad_urls_are_refused() {
        let c = RuntimeConfig::parse(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:6379/2\"\n",
            Path::new("."),
        )
        .unwrap();
        assert_eq!(
            c.key_value_stores["default"],
            Backend::Redis {
                url: "redis://127.0.0.1:6379/2".into()
            }
        );
        for (text, needle) in [
            ("type = \"redis\"\n", "needs `url"),
            ("type = \"redis\"\nurl = \"http://127.0.0.1:6379\"\n", "bad Redis url"),
            ("type = \"redis\"\nurl = \"not a url\"\n", "bad Redis url"),
        ] {
            let e = RuntimeConfig::parse(&format!("[key_value_store.default]\n{text}"), Path::new("."))
                .unwrap_err();
            assert!(format!("{e:#}").contains(needle), "{text}: {e:#}");
        }
    }
}
