//! Reading `spin.toml` (manifest version 2) into a checked [`App`].
//!
//! Only the keys the host acts on are read; unknown keys are ignored, as Spin ignores keys of
//! plugins it does not know. Every check that Spin does at start-up happens here or in
//! [`crate::variables`], so a bad manifest fails before anything listens.

use crate::routing::Route;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An application as the host runs it: components, triggers and application variables.
#[derive(Debug, Clone)]
pub struct App {
    /// `[application] name`.
    pub name: String,
    /// The directory holding the manifest; component sources are relative to it.
    pub base_dir: PathBuf,
    /// `[variables]`, by name.
    pub variables: BTreeMap<String, VariableDef>,
    /// `[component.<id>]`, by id.
    pub components: BTreeMap<String, ComponentDef>,
    /// `[[trigger.http]]` entries, in manifest order (private routes are left out).
    pub http_triggers: Vec<HttpTrigger>,
    /// `[[trigger.cron]]` entries, in manifest order.
    pub cron_triggers: Vec<CronTrigger>,
}

/// One application variable from `[variables]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct VariableDef {
    /// Value used when no provider has one.
    pub default: Option<String>,
    /// Start-up fails when no provider has a value and there is no default.
    pub required: bool,
    /// Secret values are never printed.
    pub secret: bool,
}

/// One component from `[component.<id>]`.
#[derive(Debug, Clone)]
pub struct ComponentDef {
    /// The component id (the key under `[component]`).
    pub id: String,
    /// Absolute path of the `.wasm` file.
    pub source: PathBuf,
    /// Key-value store labels the component may open.
    pub key_value_stores: Vec<String>,
    /// SQLite database labels the component may open.
    pub sqlite_databases: Vec<String>,
    /// Outbound host patterns, still templated (`https://{{ feed_host }}`).
    pub allowed_outbound_hosts: Vec<String>,
    /// `environment`: variables the component sees through wasi:cli/environment.
    pub environment: BTreeMap<String, String>,
    /// Component variables: name to template.
    pub variables: BTreeMap<String, String>,
}

/// An HTTP route bound to a component.
#[derive(Debug, Clone)]
pub struct HttpTrigger {
    /// The parsed route.
    pub route: Route,
    /// The component id serving it.
    pub component: String,
}

/// A cron schedule bound to a component.
#[derive(Debug, Clone)]
pub struct CronTrigger {
    /// The 6-field expression as written (seconds first).
    pub cron_expression: String,
    /// The component id to call.
    pub component: String,
}

#[derive(Deserialize)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    #[serde(default)]
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, VariableDef>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize, Default)]
struct RawApplication {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize, Default)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
    #[serde(default)]
    cron: Vec<RawCronTrigger>,
}

#[derive(Deserialize)]
struct RawHttpTrigger {
    route: RawRoute,
    component: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

#[derive(Deserialize)]
struct RawCronTrigger {
    component: String,
    cron_expression: String,
}

#[derive(Deserialize)]
struct RawComponent {
    source: RawSource,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawSource {
    Path(String),
    Other(toml::Value),
}

/// Reads and checks the manifest at `path`.
pub fn load(path: &Path) -> Result<App> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the manifest {}", path.display()))?;
    let base_dir = path
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", path.display()))?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    parse(&text, &base_dir).with_context(|| format!("invalid manifest {}", path.display()))
}

/// Parses manifest text; component sources are resolved against `base_dir`.
pub fn parse(text: &str, base_dir: &Path) -> Result<App> {
    let raw: RawManifest = toml::from_str(text)?;
    if raw.spin_manifest_version.as_integer() != Some(2)
        && raw.spin_manifest_version.as_str() != Some("2")
    {
        bail!(
            "spin_manifest_version is {}, only version 2 is supported",
            raw.spin_manifest_version
        );
    }
    for name in raw.variables.keys() {
        crate::variables::check_name(name).map_err(|e| anyhow::anyhow!("[variables]: {e}"))?;
    }

    let mut components = BTreeMap::new();
    for (id, c) in raw.component {
        let source = match c.source {
            RawSource::Path(p) => base_dir.join(p),
            RawSource::Other(v) => bail!(
                "component `{id}`: `source = {v}` is not supported; only a local file path is (no URLs or registry references)"
            ),
        };
        for name in c.variables.keys() {
            crate::variables::check_name(name)
                .map_err(|e| anyhow::anyhow!("[component.{id}.variables]: {e}"))?;
        }
        components.insert(
            id.clone(),
            ComponentDef {
                id,
                source,
                key_value_stores: c.key_value_stores,
                sqlite_databases: c.sqlite_databases,
                allowed_outbound_hosts: c.allowed_outbound_hosts,
                environment: c.environment,
                variables: c.variables,
            },
        );
    }

    let mut http_triggers = Vec::new();
    for t in raw.trigger.http {
        check_component(&components, &t.component, "[[trigger.http]]")?;
        match t.route {
            RawRoute::Private { private: true } => {}
            RawRoute::Private { private: false } => bail!(
                "[[trigger.http]] for component `{}`: `route = {{ private = false }}` is not a route; give a path such as \"/api/...\"",
                t.component
            ),
            RawRoute::Path(p) => {
                let route = Route::parse(&p).with_context(|| {
                    format!("[[trigger.http]] for component `{}`", t.component)
                })?;
                http_triggers.push(HttpTrigger { route, component: t.component });
            }
        }
    }

    let mut cron_triggers = Vec::new();
    for t in raw.trigger.cron {
        check_component(&components, &t.component, "[[trigger.cron]]")?;
        crate::cron::parse_schedule(&t.cron_expression)
            .with_context(|| format!("[[trigger.cron]] for component `{}`", t.component))?;
        cron_triggers.push(CronTrigger {
            cron_expression: t.cron_expression,
            component: t.component,
        });
    }

    for c in components.values() {
        if !c.source.is_file() {
            bail!(
                "component `{}`: the wasm file {} does not exist; build the components first (`spin build`, or `cargo build --target wasm32-wasip2 --release`)",
                c.id,
                c.source.display()
            );
        }
    }

    Ok(App {
        name: raw.application.name,
        base_dir: base_dir.to_path_buf(),
        variables: raw.variables,
        components,
        http_triggers,
        cron_triggers,
    })
}

fn check_component(
    components: &BTreeMap<String, ComponentDef>,
    id: &str,
    what: &str,
) -> Result<()> {
    if components.contains_key(id) {
        return Ok(());
    }
    let known: Vec<&str> = components.keys().map(String::as_str).collect();
    bail!(
        "{what} names component `{id}`, which is not defined; defined components: {}",
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(text: &str) -> Result<App> {
        let dir = std::env::temp_dir().join(format!("canbao-host-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.wasm"), b"").unwrap();
        parse(text, &dir)
    }

    const HEAD: &str = "spin_manifest_version = 2\n[application]\nname = \"t\"\n[component.a]\nsource = \"a.wasm\"\n";

    #[test]
    fn reads_triggers_and_ignores_unknown_keys() {
        let a = app(&format!(
            "{HEAD}[component.a.build]\ncommand = \"x\"\n[[trigger.http]]\nroute = \"/api/...\"\ncomponent = \"a\"\nexecutor = {{ type = \"spin\" }}\n[[trigger.http]]\nroute = {{ private = true }}\ncomponent = \"a\"\n[[trigger.cron]]\ncomponent = \"a\"\ncron_expression = \"*/5 * * * * *\"\n"
        ))
        .unwrap();
        assert_eq!(a.http_triggers.len(), 1);
        assert_eq!(a.cron_triggers.len(), 1);
    }

    #[test]
    fn unknown_component_is_named() {
        let e = app(&format!(
            "{HEAD}[[trigger.http]]\nroute = \"/\"\ncomponent = \"b\"\n"
        ))
        .unwrap_err();
        assert!(format!("{e:#}").contains("`b`"), "{e:#}");
    }

    #[test]
    fn bad_cron_is_refused() {
        let e = app(&format!(
            "{HEAD}[[trigger.cron]]\ncomponent = \"a\"\ncron_expression = \"every minute\"\n"
        ))
        .unwrap_err();
        assert!(format!("{e:#}").contains("cron"), "{e:#}");
    }
}
