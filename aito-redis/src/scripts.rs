//! [`Scripts`]: the Lua scripts under `lua/`, compiled into the crate and loaded into the server
//! once (`EVALSHA`, with a reload when the server lost them, e.g. after a restart).

use redis::Script;

/// Every Lua script, hashed once.
pub(crate) struct Scripts {
    /// `lua/publish.lua`: append to a stream and mirror on pub/sub.
    pub(crate) publish: Script,
    /// `lua/ingest.lua`: append an outside `PUBLISH` once.
    pub(crate) ingest: Script,
    /// `lua/ack.lua`: acknowledge (and delete inbox) entries.
    pub(crate) ack: Script,
    /// `lua/touch.lua`: refresh or release pending entries still owned.
    pub(crate) touch: Script,
    /// `lua/state_cas.lua`: compare-and-set of a state document.
    pub(crate) state_cas: Script,
    /// `lua/decision_create.lua`.
    pub(crate) decision_create: Script,
    /// `lua/decision_update.lua`.
    pub(crate) decision_update: Script,
    /// `lua/decisions_list.lua`.
    pub(crate) decisions_list: Script,
    /// `lua/lease_acquire.lua`.
    pub(crate) lease_acquire: Script,
    /// `lua/lease_release.lua`.
    pub(crate) lease_release: Script,
    /// `lua/counter_add.lua`.
    pub(crate) counter_add: Script,
    /// `lua/list_push.lua`: bounded lists (history, logs, dead letters).
    pub(crate) list_push: Script,
    /// `lua/task_create.lua`.
    pub(crate) task_create: Script,
    /// `lua/task_update.lua`: compare-and-set of a task document.
    pub(crate) task_update: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Self {
            publish: Script::new(include_str!("../lua/publish.lua")),
            ingest: Script::new(include_str!("../lua/ingest.lua")),
            ack: Script::new(include_str!("../lua/ack.lua")),
            touch: Script::new(include_str!("../lua/touch.lua")),
            state_cas: Script::new(include_str!("../lua/state_cas.lua")),
            decision_create: Script::new(include_str!("../lua/decision_create.lua")),
            decision_update: Script::new(include_str!("../lua/decision_update.lua")),
            decisions_list: Script::new(include_str!("../lua/decisions_list.lua")),
            lease_acquire: Script::new(include_str!("../lua/lease_acquire.lua")),
            lease_release: Script::new(include_str!("../lua/lease_release.lua")),
            counter_add: Script::new(include_str!("../lua/counter_add.lua")),
            list_push: Script::new(include_str!("../lua/list_push.lua")),
            task_create: Script::new(include_str!("../lua/task_create.lua")),
            task_update: Script::new(include_str!("../lua/task_update.lua")),
        }
    }
}
