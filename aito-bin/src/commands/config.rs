//! `aito config check`: validate the configuration and print it resolved, secrets masked.

use std::path::Path;

use crate::config::{Config, Env};
use crate::error::Error;

/// Loads the configuration and prints it; every problem is an error (exit 2).
pub fn check(path: Option<&Path>, env: &Env) -> Result<(), Error> {
    let config = Config::load(path, env)?;
    print!("{}", config.render());
    Ok(())
}
