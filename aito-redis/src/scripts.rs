//! [`Scripts`]: the Lua scripts under `lua/`, compiled into the crate and loaded into the server
//! once (`EVALSHA`, with a reload when the server lost them, e.g. after a restart).
//!
//! Every call goes through [`Lua::call`], which checks before sending that all the keys of the
//! call share one cluster slot ([`crate::keys`]): a script whose keys would cross slots fails
//! with [`Error::CrossSlot`] on a single server too, so the tests catch it long before a
//! cluster answers `CROSSSLOT`. Scripts touch only the keys they are given in `KEYS`.

use redis::{FromRedisValue, Script, ScriptInvocation, ToRedisArgs};

use crate::error::Error;
use crate::keys::slot;

/// One Lua script and its name, for errors.
pub(crate) struct Lua {
    name: &'static str,
    script: Script,
}

impl Lua {
    fn new(name: &'static str, source: &str) -> Self {
        Self {
            name,
            script: Script::new(source),
        }
    }

    /// Starts a call.
    pub(crate) fn call(&self) -> Call<'_> {
        Call {
            name: self.name,
            invocation: self.script.prepare_invoke(),
            keys: Vec::new(),
        }
    }

    /// Starts a call with its first key, as `redis::Script::key` does.
    pub(crate) fn key(&self, key: impl Into<String>) -> Call<'_> {
        let mut call = self.call();
        call.key(key);
        call
    }
}

/// A script call being built: its keys are kept to check their slots.
pub(crate) struct Call<'a> {
    name: &'static str,
    invocation: ScriptInvocation<'a>,
    keys: Vec<String>,
}

impl Call<'_> {
    /// Adds a key (`KEYS[n]`).
    pub(crate) fn key(&mut self, key: impl Into<String>) -> &mut Self {
        let key = key.into();
        self.invocation.key(&key);
        self.keys.push(key);
        self
    }

    /// Adds an argument (`ARGV[n]`).
    pub(crate) fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        self.invocation.arg(arg);
        self
    }

    /// Checks that the keys share one slot.
    pub(crate) fn check_slots(&self) -> Result<(), Error> {
        let mut slots = self.keys.iter().map(|key| slot(key.as_bytes()));
        if let Some(first) = slots.next()
            && slots.any(|other| other != first)
        {
            return Err(Error::CrossSlot {
                script: self.name,
                keys: self.keys.clone(),
            });
        }
        Ok(())
    }

    /// Runs the script on `connection`.
    pub(crate) async fn invoke_async<T, C>(&self, connection: &mut C) -> Result<T, Error>
    where
        T: FromRedisValue,
        C: redis::aio::ConnectionLike,
    {
        self.check_slots()?;
        Ok(self.invocation.invoke_async(connection).await?)
    }
}

/// Every Lua script, hashed once.
pub(crate) struct Scripts {
    /// `lua/publish.lua`: append to a stream and mirror on pub/sub.
    pub(crate) publish: Lua,
    /// `lua/ingest.lua`: append an outside `PUBLISH` once.
    pub(crate) ingest: Lua,
    /// `lua/ack.lua`: acknowledge (and delete inbox) entries.
    pub(crate) ack: Lua,
    /// `lua/touch.lua`: refresh or release pending entries still owned.
    pub(crate) touch: Lua,
    /// `lua/prune_consumers.lua`: drop a group's other consumers that hold nothing.
    pub(crate) prune_consumers: Lua,
    /// `lua/state_cas.lua`: compare-and-set of a state document.
    pub(crate) state_cas: Lua,
    /// `lua/decision_create.lua`.
    pub(crate) decision_create: Lua,
    /// `lua/decision_update.lua`.
    pub(crate) decision_update: Lua,
    /// `lua/lease_acquire.lua`.
    pub(crate) lease_acquire: Lua,
    /// `lua/lease_release.lua`.
    pub(crate) lease_release: Lua,
    /// `lua/fenced_mark.lua`: an idempotency mark under a live lease term.
    pub(crate) fenced_mark: Lua,
    /// `lua/fenced_set.lua`: a value under a live lease term.
    pub(crate) fenced_set: Lua,
    /// `lua/counter_add.lua`.
    pub(crate) counter_add: Lua,
    /// `lua/list_push.lua`: bounded lists (history, logs, dead letters).
    pub(crate) list_push: Lua,
    /// `lua/trigger_finish.lua`: state, history, handled mark and journal of one trigger.
    pub(crate) trigger_finish: Lua,
    /// `lua/dead_letter_push.lua`: the bounded dead-letter list, once per agent and trigger.
    pub(crate) dead_letter_push: Lua,
    /// `lua/task_create.lua`.
    pub(crate) task_create: Lua,
    /// `lua/task_update.lua`: compare-and-set of a task document.
    pub(crate) task_update: Lua,
    /// `lua/budget_reserve.lua`: a budget hold, against every limit or none.
    pub(crate) budget_reserve: Lua,
    /// `lua/budget_book.lua`: a cost booked once, its hold released.
    pub(crate) budget_book: Lua,
    /// `lua/session_put.lua`: keep a session record, drop the agent's oldest.
    pub(crate) session_put: Lua,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Self {
            publish: Lua::new("publish", include_str!("../lua/publish.lua")),
            ingest: Lua::new("ingest", include_str!("../lua/ingest.lua")),
            ack: Lua::new("ack", include_str!("../lua/ack.lua")),
            touch: Lua::new("touch", include_str!("../lua/touch.lua")),
            prune_consumers: Lua::new(
                "prune_consumers",
                include_str!("../lua/prune_consumers.lua"),
            ),
            state_cas: Lua::new("state_cas", include_str!("../lua/state_cas.lua")),
            decision_create: Lua::new(
                "decision_create",
                include_str!("../lua/decision_create.lua"),
            ),
            decision_update: Lua::new(
                "decision_update",
                include_str!("../lua/decision_update.lua"),
            ),
            lease_acquire: Lua::new("lease_acquire", include_str!("../lua/lease_acquire.lua")),
            lease_release: Lua::new("lease_release", include_str!("../lua/lease_release.lua")),
            fenced_mark: Lua::new("fenced_mark", include_str!("../lua/fenced_mark.lua")),
            fenced_set: Lua::new("fenced_set", include_str!("../lua/fenced_set.lua")),
            counter_add: Lua::new("counter_add", include_str!("../lua/counter_add.lua")),
            list_push: Lua::new("list_push", include_str!("../lua/list_push.lua")),
            trigger_finish: Lua::new("trigger_finish", include_str!("../lua/trigger_finish.lua")),
            dead_letter_push: Lua::new(
                "dead_letter_push",
                include_str!("../lua/dead_letter_push.lua"),
            ),
            task_create: Lua::new("task_create", include_str!("../lua/task_create.lua")),
            task_update: Lua::new("task_update", include_str!("../lua/task_update.lua")),
            budget_reserve: Lua::new("budget_reserve", include_str!("../lua/budget_reserve.lua")),
            budget_book: Lua::new("budget_book", include_str!("../lua/budget_book.lua")),
            session_put: Lua::new("session_put", include_str!("../lua/session_put.lua")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Keys;
    use aito_core::{AgentId, Channel};

    #[test]
    fn a_call_whose_keys_cross_slots_is_refused_before_it_is_sent() {
        let scripts = Scripts::new();
        let keys = Keys::new("acme:");
        let agent = AgentId::random();
        let inbox = keys.stream(Channel::Agent(agent)).expect("stream");
        // The claim of another agent's stream: a mistake a cluster would answer with CROSSSLOT.
        let wrong = keys.ingest_claim(Channel::Agent(AgentId::random()), "id:x");
        let err = scripts
            .ingest
            .key(&inbox)
            .key(&wrong)
            .check_slots()
            .expect_err("cross-slot keys");
        assert!(
            matches!(
                err,
                Error::CrossSlot {
                    script: "ingest",
                    ..
                }
            ),
            "{err}"
        );
        let right = keys.ingest_claim(Channel::Agent(agent), "id:x");
        scripts
            .ingest
            .key(&inbox)
            .key(&right)
            .check_slots()
            .expect("one slot");
    }

    #[test]
    fn scripts_use_only_the_keys_they_declare() {
        // Every key a script touches is a `KEYS[n]`: no script builds key names itself.
        for (name, source) in [
            ("publish", include_str!("../lua/publish.lua")),
            ("ingest", include_str!("../lua/ingest.lua")),
            ("ack", include_str!("../lua/ack.lua")),
            ("touch", include_str!("../lua/touch.lua")),
            (
                "prune_consumers",
                include_str!("../lua/prune_consumers.lua"),
            ),
            ("state_cas", include_str!("../lua/state_cas.lua")),
            (
                "decision_create",
                include_str!("../lua/decision_create.lua"),
            ),
            (
                "decision_update",
                include_str!("../lua/decision_update.lua"),
            ),
            ("lease_acquire", include_str!("../lua/lease_acquire.lua")),
            ("lease_release", include_str!("../lua/lease_release.lua")),
            ("fenced_mark", include_str!("../lua/fenced_mark.lua")),
            ("fenced_set", include_str!("../lua/fenced_set.lua")),
            ("counter_add", include_str!("../lua/counter_add.lua")),
            ("list_push", include_str!("../lua/list_push.lua")),
            ("trigger_finish", include_str!("../lua/trigger_finish.lua")),
            (
                "dead_letter_push",
                include_str!("../lua/dead_letter_push.lua"),
            ),
            ("task_create", include_str!("../lua/task_create.lua")),
            ("task_update", include_str!("../lua/task_update.lua")),
            ("budget_reserve", include_str!("../lua/budget_reserve.lua")),
            ("budget_book", include_str!("../lua/budget_book.lua")),
            ("session_put", include_str!("../lua/session_put.lua")),
        ] {
            for line in source
                .lines()
                .filter(|line| !line.trim_start().starts_with("--"))
            {
                let Some(call) = line.find("redis.call(") else {
                    continue;
                };
                let args = &line[call..];
                // The first argument after the command name is the key, except for PUBLISH,
                // whose first argument is a channel.
                if args.contains("'PUBLISH'") {
                    continue;
                }
                let Some((_, mut after)) = args.split_once(", ") else {
                    continue;
                };
                // Commands with a subcommand name their key after it.
                if args.starts_with("redis.call('XINFO'") || args.starts_with("redis.call('XGROUP'")
                {
                    let Some((_, key)) = after.split_once(", ") else {
                        continue;
                    };
                    after = key;
                }
                assert!(
                    after.starts_with("KEYS["),
                    "{name}.lua touches a key it does not declare: {line}"
                );
            }
        }
    }
}
