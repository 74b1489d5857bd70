//! aito-context: the built-in [`ContextProvider`](aito_core::ContextProvider) of aito, a
//! memory of the company that agents search when they think, with nothing to install.
//!
//! [`TantivyContext`] keeps a [tantivy](https://docs.rs/tantivy) full-text index of:
//! - the **knowledge folders** named in `aito.toml` (markdown and text files, cut into
//!   passages by heading and paragraph), re-scanned cheaply before every search so a file
//!   added now is found by the next session;
//! - each agent's **session summaries**, **worker results**, and every **decision** with its
//!   outcome, votes and reasons, offered by the daemons and the decision engine through
//!   [`observe`](aito_core::ContextProvider::observe) (microseconds: commits are batched, and
//!   every search sees what was observed before it), or loaded from the state store with
//!   [`TantivyContext::backfill`].
//!
//! A prompt's query is built from its trigger (message title and content, decision text);
//! passages are ranked by BM25 times a recency factor, cut by relative score and fitted to the
//! context budget. An agent never gets another agent's summaries or worker results, unless its
//! role is an overseer (the CEO by default): see [`Visibility`].
//!
//! Use it when agents should remember: give it to
//! [`CompanyBuilder::context`](aito_core::CompanyBuilder::context). For another store (a
//! vector database you already run), implement the trait instead; `docs/context.md` gives the
//! contract.
//!
//! # Modules
//! - [`provider`]: [`TantivyContext`], the provider; [`Refresh`] and [`Backfill`] reports.
//! - [`rank`]: [`Ranking`] (BM25 × recency, cut-offs) and [`Visibility`] (who sees what).
//! - [`config`]: [`ContextConfig`] (the `[context]` table of `aito.toml`), [`search_as`] and
//!   [`Inspection`] for `aito context search`, [`budget_for`].
//! - [`chunk`]: how documents are cut into passages.
//! - [`entry`]: how summaries, decisions and worker results become passages; [`Kind`],
//!   [`Owner`].
//! - [`error`]: why the index failed, [`IndexError`].
//!
//! # Example
//! ```
//! use aito_context::TantivyContext;
//! use aito_core::context::{ContextQuery, Knowledge};
//! use aito_core::{AgentId, Role};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let folder = tempfile::tempdir()?;
//! std::fs::write(
//!     folder.path().join("treasury.md"),
//!     "# Treasury\n## Token burn schedule\nWe burn 2% of the fees every month.\n",
//! )?;
//! let context = TantivyContext::in_memory()?.with_knowledge(folder.path());
//!
//! let cfo = AgentId::derived("acme", "cfo");
//! let now = "2026-11-24T10:00:00Z".parse()?;
//! context.index(
//!     &Knowledge::SessionSummary {
//!         agent: cfo,
//!         role: Role::Cfo,
//!         trigger: "task: Q3 burn".to_owned(),
//!         summary: "Checked the October burn: on schedule".to_owned(),
//!     },
//!     now,
//! )?;
//!
//! let query = ContextQuery {
//!     agent: cfo,
//!     role: Role::Cfo,
//!     text: "Review the token burn schedule".to_owned(),
//!     budget_chars: 4_000,
//! };
//! let passages = context.search(&query, now)?;
//! assert!(passages[0].source.ends_with("treasury.md § Treasury › Token burn schedule"));
//! assert!(passages.iter().any(|p| p.text.contains("on schedule")));
//!
//! // In a company: Company::builder("acme").context(Arc::new(context.with_clock(clock)))
//! # Ok(())
//! # }
//! ```

pub mod chunk;
pub mod config;
pub mod entry;
pub mod error;
mod folder;
mod index;
pub mod provider;
pub mod rank;
mod schema;

pub use config::{ContextConfig, Inspection, Storage, budget_for, search_as};
pub use entry::{Kind, Owner};
pub use error::IndexError;
pub use provider::{Backfill, COMMIT_EVERY, Refresh, TantivyContext};
pub use rank::{Ranking, Visibility};
