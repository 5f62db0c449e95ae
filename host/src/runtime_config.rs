//! The runtime configuration file (`--runtime-config-file`): extra key-value stores and SQLite
//! databases, in Spin's format.
//!
//! ```toml
//! [key_value_store.cache]
//! type = "spin"
//! path = "cache.db"        # relative to this file; omit for an in-memory store
//!
//! [sqlite_database.reports]
//! type = "spin"
//! path = "reports.db"
//! ```
//! Other backend types (`redis`, `libsql`, …) are refused with a clear message for now.

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

/// A backend definition; only Spin's own SQLite-file backend exists so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// `type = "spin"`: a SQLite file (absolute path), or memory when no path is given.
    Spin {
        /// The file, resolved against the runtime config file's directory.
        path: Option<PathBuf>,
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
        let convert = |section: &str,
                       map: BTreeMap<String, RawBackend>|
         -> Result<BTreeMap<String, Backend>> {
            map.into_iter()
                .map(|(label, b)| match b.kind.as_str() {
                    "spin" => Ok((label, Backend::Spin { path: b.path.map(|p| base.join(p)) })),
                    other => bail!(
                        "[{section}.{label}]: type \"{other}\" is not supported by canbao-host yet (only \"spin\"); run under `spin up` for other backends"
                    ),
                })
                .collect()
        };
        Ok(RuntimeConfig {
            key_value_stores: convert("key_value_store", raw.key_value_store)?,
            sqlite_databases: convert("sqlite_database", raw.sqlite_database)?,
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
            "[key_value_store.x]\ntype = \"redis\"\nurl = \"redis://a\"\n",
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.to_string().contains("redis"), "{e}");
    }
}
