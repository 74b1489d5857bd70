//! What the server answers: queued [`Reply`]s first, in order, then a [`Responder`] that looks
//! at the request, then a default.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use crate::record::Recorded;
use crate::reply::{ApiError, Reply};

/// Chooses the reply to a model call from the request itself (for example from its system
/// prompt, or from whether the conversation already holds a tool result).
///
/// Any `Fn(&Recorded) -> Reply` closure is a responder; implement the trait for one that must
/// await something.
#[async_trait]
pub trait Responder: Send + Sync + 'static {
    /// The reply to `request`.
    async fn respond(&self, request: &Recorded) -> Reply;
}

#[async_trait]
impl<F> Responder for F
where
    F: Fn(&Recorded) -> Reply + Send + Sync + 'static,
{
    async fn respond(&self, request: &Recorded) -> Reply {
        self(request)
    }
}

/// The message of the reply used when nothing is scripted.
pub const UNSCRIPTED: &str = "aito-mock-api: no reply is scripted for this request";

/// The replies of one server, shared by every API it serves.
#[derive(Default)]
pub(crate) struct Script {
    queue: Mutex<VecDeque<Reply>>,
    responder: Mutex<Option<Arc<dyn Responder>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Script {
    pub(crate) fn push(&self, reply: Reply) {
        lock(&self.queue).push_back(reply);
    }

    pub(crate) fn set_responder(&self, responder: Arc<dyn Responder>) {
        *lock(&self.responder) = Some(responder);
    }

    pub(crate) fn queued(&self) -> usize {
        lock(&self.queue).len()
    }

    /// The next queued reply, else the responder's, else a 500 saying nothing is scripted.
    pub(crate) async fn next(&self, request: &Recorded) -> Reply {
        if let Some(reply) = lock(&self.queue).pop_front() {
            return reply;
        }
        let responder = lock(&self.responder).clone();
        match responder {
            Some(responder) => responder.respond(request).await,
            None => Reply::Error(ApiError::new(500, UNSCRIPTED)),
        }
    }
}
