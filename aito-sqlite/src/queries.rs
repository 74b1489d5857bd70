//! The SQL of every operation, one file each under `queries/`, compiled in.

macro_rules! queries {
    ($($name:ident => $file:literal,)*) => {
        $(
            #[doc = concat!("`queries/", $file, "`")]
            pub(crate) const $name: &str = include_str!(concat!("../queries/", $file));
        )*
    };
}

queries! {
    STATE_LOAD => "store/state_load.sql",
    STATE_WRITE => "store/state_write.sql",
    HISTORY_APPEND => "store/history_append.sql",
    HISTORY_TRIM => "store/history_trim.sql",
    HISTORY_READ => "store/history_read.sql",
    DECISION_CREATE => "store/decision_create.sql",
    DECISION_GET => "store/decision_get.sql",
    DECISION_UPDATE => "store/decision_update.sql",
    DECISIONS_ALL => "store/decisions_all.sql",
    DECISIONS_BY_STATUS => "store/decisions_by_status.sql",
    MARK_SET => "store/mark_set.sql",
    MARK_GET => "store/mark_get.sql",
    LEASE_ACQUIRE => "store/lease_acquire.sql",
    LEASE_RELEASE => "store/lease_release.sql",
    LEASES_CLEAR => "store/leases_clear.sql",
    COUNTER_ADD => "store/counter_add.sql",
    COUNTER_GET => "store/counter_get.sql",
    VALUE_GET => "store/value_get.sql",
    VALUE_SET => "store/value_set.sql",
    VALUE_DELETE => "store/value_delete.sql",
    LOG_APPEND => "store/log_append.sql",
    LOG_TRIM => "store/log_trim.sql",
    LOG_READ => "store/log_read.sql",
    DEAD_LETTER_PUSH => "store/dead_letter_push.sql",
    DEAD_LETTERS_TRIM => "store/dead_letters_trim.sql",
    DEAD_LETTERS_ALL => "store/dead_letters_all.sql",
    DEAD_LETTERS_OF => "store/dead_letters_of.sql",
    STATUS_PUT => "store/status_put.sql",
    STATUSES_ALL => "store/statuses_all.sql",
    PURGE_MARKS => "store/purge_marks.sql",
    PURGE_COUNTERS => "store/purge_counters.sql",
    PURGE_VALUES => "store/purge_values.sql",
    PURGE_LEASES => "store/purge_leases.sql",
    PUBLISH_INBOX => "bus/publish_inbox.sql",
    PUBLISH_HELD => "bus/publish_held.sql",
    PUBLISH_GROUP => "bus/publish_group.sql",
    GROUP_JOIN => "bus/group_join.sql",
    GROUP_QUEUES => "bus/group_queues.sql",
    CLAIM => "bus/claim.sql",
    CLAIM_OWN => "bus/claim_own.sql",
    NEXT_RELEASE => "bus/next_release.sql",
    ACK => "bus/ack.sql",
    DROP => "bus/drop.sql",
    RELEASE => "bus/release.sql",
    RENEW => "bus/renew.sql",
    TRIM_QUEUE => "bus/trim_queue.sql",
    PENDING => "bus/pending.sql",
    EXPORT_STATES => "export/states.sql",
    EXPORT_HISTORY => "export/history.sql",
    EXPORT_MARKS => "export/marks.sql",
    EXPORT_COUNTERS => "export/counters.sql",
    EXPORT_VALUES => "export/values.sql",
    EXPORT_LOGS => "export/logs.sql",
    EXPORT_DEAD_LETTERS => "export/dead_letters.sql",
    EXPORT_STATUSES => "export/statuses.sql",
    EXPORT_MESSAGES => "export/messages.sql",
}
