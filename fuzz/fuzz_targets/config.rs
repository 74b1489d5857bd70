//! The configuration loader on any text, with no environment: it accepts, or refuses with the
//! problems found, and never panics; what it accepts renders (secrets masked) without panicking.
#![no_main]

use std::path::Path;

use aito_bin::config::{Config, ConfigSource, Env};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env = Env::default();
    let base = Path::new("/nonexistent/aito-fuzz");
    match Config::from_text(text, ConfigSource::BuiltIn, base, &env) {
        Ok(config) => drop(config.render()),
        Err(err) => drop(err.to_string()),
    }
});
