//! Mock adapters for tests and demos: a scripted model and scripted workers. Unlike the
//! `mockall` mocks of each trait, these behave like the real thing end to end.

mod replay;
mod workers;

pub use replay::{
    IDLE_ANSWER, KEPT_REQUESTS, OnExhausted, ReplayError, ReplayLlm, Script, ScriptedResponse,
};
pub use workers::MockWorkers;
