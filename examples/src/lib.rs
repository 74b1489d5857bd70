//! Small programs that show how to use aito; each runs with nothing installed.
//!
//! - `custom_role`: a company with a role of your own, a profile, and file writes.
//! - `custom_llm`: your own [`aito_core::LlmSession`], with cost and usage.
//! - `tests/mocked_model.rs`: an agent tested against mockall expectations.
//!
//! ```text
//! cargo run -p aito-examples --example custom_role
//! cargo run -p aito-examples --example custom_llm
//! cargo test -p aito-examples
//! ```
//!
//! `scenarios/` holds the demo scenario and its recording (see docs/scenarios.md).
