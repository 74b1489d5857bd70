//! The `aito` binary's library: everything the binary wires together, exposed so that it can
//! be tested in-process.
//!
//! - [`dashboard`]: the axum dashboard (pages, JSON API, health, metrics).

pub mod dashboard;
