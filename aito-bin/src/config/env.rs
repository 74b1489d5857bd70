//! The `AITO_*` environment, read once, so that configuration can be resolved (and tested)
//! against a fixed set of variables.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

/// Prefixes of the variables that override `aito.toml`; a variable with one of these
/// prefixes that no field reads is reported, since it is most likely a typo.
const SECTION_PREFIXES: &[&str] = &[
    "AITO_COMPANY_",
    "AITO_AGENTS_",
    "AITO_MCP_",
    "AITO_WEBHOOKS_",
    "AITO_REDIS_",
    "AITO_BUS_",
    "AITO_DASHBOARD_",
    "AITO_HEALTH_",
    "AITO_LLM_",
    "AITO_CLAUDE_",
    "AITO_CONTEXT_",
    "AITO_DECISIONS_",
];

/// Variables with a section prefix that are read elsewhere, not by the configuration.
const NOT_CONFIGURATION: [&str; 1] = [
    // `aito health`'s default URL.
    "AITO_HEALTH_URL",
];

/// A snapshot of the `AITO_*` environment variables. An empty value counts as unset, so that
/// `AITO_REDIS_URL=` in a compose file means "no Redis".
#[derive(Debug, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
    used: RefCell<BTreeSet<String>>,
}

impl Env {
    /// The variables of this process.
    pub fn from_process() -> Self {
        Self::from_pairs(std::env::vars_os().filter_map(|(name, value)| {
            Some((name.into_string().ok()?, value.into_string().ok()?))
        }))
    }

    /// The given variables (for tests and embedding).
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: pairs
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .filter(|(name, value)| name.starts_with("AITO_") && !value.is_empty())
                .collect(),
            used: RefCell::new(BTreeSet::new()),
        }
    }

    /// The value of `name`, remembered as used.
    pub fn get(&self, name: &str) -> Option<&str> {
        let value = self.vars.get(name)?;
        self.used.borrow_mut().insert(name.to_owned());
        Some(value.as_str())
    }

    /// Variables whose name starts with `prefix`, as (rest of the name, value); all are
    /// remembered as used.
    pub fn with_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        let found: Vec<(String, String)> = self
            .vars
            .range(prefix.to_owned()..)
            .take_while(|(name, _)| name.starts_with(prefix))
            .map(|(name, value)| (name[prefix.len()..].to_owned(), value.clone()))
            .collect();
        let mut used = self.used.borrow_mut();
        for (rest, _) in &found {
            used.insert(format!("{prefix}{rest}"));
        }
        found
    }

    /// The variables read so far.
    pub fn used(&self) -> Vec<String> {
        self.used.borrow().iter().cloned().collect()
    }

    /// Configuration-looking variables that nothing read.
    pub fn unused(&self) -> Vec<String> {
        let used = self.used.borrow();
        self.vars
            .keys()
            .filter(|name| !used.contains(*name))
            .filter(|name| !NOT_CONFIGURATION.contains(&name.as_str()))
            .filter(|name| {
                SECTION_PREFIXES
                    .iter()
                    .any(|prefix| name.starts_with(prefix))
            })
            .cloned()
            .collect()
    }
}

/// The part of a variable name that stands for `name` (a role or an MCP server):
/// upper case, with `-` as `_`.
pub fn env_key(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_values_are_unset_and_unread_section_variables_are_reported() {
        let env = Env::from_pairs([
            ("AITO_REDIS_URL", ""),
            ("AITO_COMPANY_NAME", "acme"),
            ("AITO_COMPANY_NAEM", "typo"),
            ("AITO_LOG_FORMAT", "json"),
            ("AITO_HEALTH_URL", "http://127.0.0.1:3001/healthz"),
            ("HOME", "/root"),
        ]);
        assert_eq!(env.get("AITO_REDIS_URL"), None);
        assert_eq!(env.get("AITO_COMPANY_NAME"), Some("acme"));
        assert_eq!(env.unused(), ["AITO_COMPANY_NAEM"]);
        assert_eq!(env.used(), ["AITO_COMPANY_NAME"]);
    }
}
