//! Roles: the seven of the original company, plus any custom name.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The role an agent plays. Serialized as its lowercase name (`"ceo"`, `"cto"`, `"legal"`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Chief executive: sets direction, may veto minor decisions, reviews major ones.
    Ceo,
    /// The DAO's voice: reviews major and critical decisions with the CEO.
    Dao,
    /// Chief marketing officer.
    Cmo,
    /// Chief technology officer.
    Cto,
    /// Chief financial officer.
    Cfo,
    /// Chief operating officer.
    Coo,
    /// Chief compliance officer.
    Cco,
    /// A role defined by the user; the name is lowercase letters, digits, `-` and `_`.
    Custom(String),
}

/// A role name that is empty, too long or has characters outside `[a-z0-9_-]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid role name {name:?}: expected 1 to 32 characters of a-z, 0-9, '-' or '_' (or one of ceo, dao, cmo, cto, cfo, coo, cco)"
)]
pub struct InvalidRole {
    /// The name as given.
    pub name: String,
}

impl Role {
    /// The seven built-in roles, in reporting order.
    pub const BUILT_IN: [Role; 7] = [
        Role::Ceo,
        Role::Dao,
        Role::Cmo,
        Role::Cto,
        Role::Cfo,
        Role::Coo,
        Role::Cco,
    ];

    /// The lowercase name used on the wire and in configuration.
    pub fn as_str(&self) -> &str {
        match self {
            Role::Ceo => "ceo",
            Role::Dao => "dao",
            Role::Cmo => "cmo",
            Role::Cto => "cto",
            Role::Cfo => "cfo",
            Role::Coo => "coo",
            Role::Cco => "cco",
            Role::Custom(name) => name,
        }
    }

    /// Members of `head` (`channel:head`): the CEO and the DAO.
    pub fn is_head(&self) -> bool {
        matches!(self, Role::Ceo | Role::Dao)
    }

    /// Members of `clevel` (`channel:clevel`): the chief officers, not the DAO.
    pub fn is_clevel(&self) -> bool {
        matches!(
            self,
            Role::Ceo | Role::Cmo | Role::Cto | Role::Cfo | Role::Coo | Role::Cco
        )
    }

    /// The default schedule of the built-in roles (five-field cron), as in the original system:
    /// CEO every 15 min, CTO hourly, COO every 2 h, CMO every 4 h, DAO and CFO every 6 h, CCO daily.
    pub fn default_schedule(&self) -> Option<&'static str> {
        Some(match self {
            Role::Ceo => "*/15 * * * *",
            Role::Cto => "0 * * * *",
            Role::Coo => "0 */2 * * *",
            Role::Cmo => "0 */4 * * *",
            Role::Dao | Role::Cfo => "0 */6 * * *",
            Role::Cco => "0 0 * * *",
            Role::Custom(_) => return None,
        })
    }
}

impl FromStr for Role {
    type Err = InvalidRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "ceo" => Role::Ceo,
            "dao" => Role::Dao,
            "cmo" => Role::Cmo,
            "cto" => Role::Cto,
            "cfo" => Role::Cfo,
            "coo" => Role::Coo,
            "cco" => Role::Cco,
            other => {
                let valid = !other.is_empty()
                    && other.len() <= 32
                    && other.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'
                    });
                // Reserved addressing words can never be role names.
                let reserved = matches!(other, "all" | "head" | "clevel" | "broadcast" | "human");
                if !valid || reserved {
                    return Err(InvalidRole { name: s.to_owned() });
                }
                Role::Custom(other.to_owned())
            }
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Role {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_builtin_and_custom_roles() {
        assert_eq!("CTO".parse::<Role>().unwrap(), Role::Cto);
        assert_eq!(
            "legal".parse::<Role>().unwrap(),
            Role::Custom("legal".into())
        );
        assert!("".parse::<Role>().is_err());
        assert!("head".parse::<Role>().is_err());
        assert!("a b".parse::<Role>().is_err());
        let err = "x/y".parse::<Role>().unwrap_err().to_string();
        assert!(err.contains("x/y"), "{err}");
    }

    #[test]
    fn groups_match_the_original_channels() {
        let head: Vec<_> = Role::BUILT_IN.iter().filter(|r| r.is_head()).collect();
        assert_eq!(head, [&Role::Ceo, &Role::Dao]);
        assert!(!Role::Dao.is_clevel());
        assert_eq!(Role::BUILT_IN.iter().filter(|r| r.is_clevel()).count(), 6);
    }
}
