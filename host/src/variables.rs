//! Spin variables: name rules, `{{ name }}` templates and resolution of values.
//!
//! A component sees only its own `[component.x.variables]`; each is a template over the
//! application `[variables]`, whose value comes from the environment provider
//! (`SPIN_VARIABLE_<NAME>` in the environment, else in a `.env` file in the current directory,
//! as Spin's provider reads it) first, then the default. Everything resolves once at start-up, so a
//! missing required variable stops the host before it listens.

use crate::manifest::App;
use anyhow::{anyhow, bail, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Checks a variable name the way Spin does: lower snake case, starting with a letter.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.ends_with('_')
        && !name.contains("__");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid variable name \"{name}\": use lower case letters, digits and single underscores, starting with a letter"
        ))
    }
}

/// `KEY=VALUE` lines of a dotenv file (missing file: nothing); quotes around values are removed.
fn read_dotenv(path: &Path) -> HashMap<String, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.strip_prefix("export ").unwrap_or(l).split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let unquoted = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(v);
            (k.trim().to_string(), unquoted.to_string())
        })
        .collect()
}

/// One piece of a template: literal text or a variable reference.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(String),
}

/// Splits `"https://{{ host }}/x"` into literal and variable parts.
fn parse_template(template: &str) -> Result<Vec<Part>> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            parts.push(Part::Text(rest[..start].to_string()));
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| {
            anyhow!("template \"{template}\" has '{{{{' without a closing '}}}}'")
        })?;
        let name = after[..end].trim();
        check_name(name).map_err(|e| anyhow!("template \"{template}\": {e}"))?;
        parts.push(Part::Var(name.to_string()));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_string()));
    }
    Ok(parts)
}

/// Application variable values after providers and defaults have been applied.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    values: HashMap<String, String>,
}

impl Resolver {
    /// Resolves every application variable; `env` is consulted before the process environment.
    pub fn new(app: &App, env: &[(String, String)]) -> Result<Resolver> {
        let mut values = HashMap::new();
        let dotenv = read_dotenv(Path::new(".env"));
        for (name, def) in &app.variables {
            if def.required && def.default.is_some() {
                bail!("variable `{name}` has both `required = true` and a `default`; keep one");
            }
            if !def.required && def.default.is_none() {
                bail!("variable `{name}` needs either `required = true` or a `default`");
            }
            let key = format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase());
            let from_env = env
                .iter()
                .rev()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone())
                .or_else(|| std::env::var(&key).ok())
                .or_else(|| dotenv.get(&key).cloned());
            match from_env.or_else(|| def.default.clone()) {
                Some(v) => {
                    values.insert(name.clone(), v);
                }
                None => bail!(
                    "variable `{name}` is required but has no value; set the environment variable {key}"
                ),
            }
        }
        Ok(Resolver { values })
    }

    /// Expands a template over the application variables.
    pub fn expand(&self, template: &str) -> Result<String> {
        let mut out = String::new();
        for part in parse_template(template)? {
            match part {
                Part::Text(t) => out.push_str(&t),
                Part::Var(v) => match self.values.get(&v) {
                    Some(value) => out.push_str(value),
                    None => bail!(
                        "template \"{template}\" refers to `{v}`, which is not defined in [variables]"
                    ),
                },
            }
        }
        Ok(out)
    }

    /// The resolved component variables of one component, by name.
    pub fn component_values(
        &self,
        templates: &BTreeMap<String, String>,
    ) -> Result<HashMap<String, String>> {
        templates
            .iter()
            .map(|(name, t)| Ok((name.clone(), self.expand(t)?)))
            .collect()
    }
}

impl crate::bindings::fermyon::spin::variables::Host for crate::state::HostState {
    async fn get(
        &mut self,
        name: String,
    ) -> wasmtime::Result<Result<String, crate::bindings::fermyon::spin::variables::Error>> {
        use crate::bindings::fermyon::spin::variables::Error;
        if let Err(e) = check_name(&name) {
            return Ok(Err(Error::InvalidName(e)));
        }
        Ok(match self.component.variables.get(&name) {
            Some(v) => Ok(v.clone()),
            None => Err(Error::Undefined(format!(
                "no variable for {:?}.{name:?}",
                &*self.component.id
            ))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "access_tokens", "feed_host2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "A", "1a", "_a", "a_", "a__b", "a-b", "Access"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dotenv_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".env");
        std::fs::write(
            &p,
            "# c\nSPIN_VARIABLE_A=1\nexport SPIN_VARIABLE_B = \"two words\"\n\nbroken\n",
        )
        .unwrap();
        let m = read_dotenv(&p);
        assert_eq!(m["SPIN_VARIABLE_A"], "1");
        assert_eq!(m["SPIN_VARIABLE_B"], "two words");
        assert_eq!(m.len(), 2);
        assert!(read_dotenv(&dir.path().join("none")).is_empty());
    }

    #[test]
    fn templates_expand_and_undefined_is_an_error() {
        let r = Resolver {
            values: HashMap::from([("host".into(), "example.org".into())]),
        };
        assert_eq!(
            r.expand("https://{{ host }}:443/{{host}}").unwrap(),
            "https://example.org:443/example.org"
        );
        assert_eq!(r.expand("plain").unwrap(), "plain");
        assert!(r
            .expand("{{ nope }}")
            .unwrap_err()
            .to_string()
            .contains("nope"));
        assert!(r.expand("{{ host").is_err());
    }
}
