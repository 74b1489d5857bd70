//! The built-in role profiles, shipped in the repository's `profiles/` (linked into this crate as
//! `profiles/`, so the published crate carries them) and compiled in as defaults.

use crate::role::Role;

/// The built-in profile of `role`; custom roles get a short generic one with their name.
pub fn builtin(role: &Role) -> String {
    let text = match role {
        Role::Ceo => include_str!("../profiles/ceo.md"),
        Role::Dao => include_str!("../profiles/dao.md"),
        Role::Cmo => include_str!("../profiles/cmo.md"),
        Role::Cto => include_str!("../profiles/cto.md"),
        Role::Cfo => include_str!("../profiles/cfo.md"),
        Role::Coo => include_str!("../profiles/coo.md"),
        Role::Cco => include_str!("../profiles/cco.md"),
        Role::Custom(name) => {
            return include_str!("../profiles/custom.md")
                .replace("{ROLE}", &name.to_ascii_uppercase());
        }
    };
    text.to_owned()
}
