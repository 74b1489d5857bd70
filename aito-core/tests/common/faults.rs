//! Models that misbehave on purpose: one that panics, one that waits for the test to let it
//! answer. Faulty stores and buses are in `aito_core::testkit::faults`.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use aito_core::{LlmError, LlmRequest, LlmResponse, LlmSession};
use async_trait::async_trait;

/// A model that panics on its first `panics` calls, then answers through `inner`.
pub struct PanickyLlm<L> {
    pub inner: L,
    pub panics: AtomicUsize,
    pub calls: AtomicUsize,
}

#[async_trait]
impl<L: LlmSession> LlmSession for PanickyLlm<L> {
    async fn run(&self, request: LlmRequest) -> Result<LlmResponse, LlmError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let left = self.panics.load(Ordering::SeqCst);
        if left > 0 {
            self.panics.store(left - 1, Ordering::SeqCst);
            panic!("the model adapter broke");
        }
        self.inner.run(request).await
    }
}

/// A model whose sessions wait until the test lets each one answer through `inner`.
pub struct GatedLlm<L> {
    pub inner: L,
    pub gate: Semaphore,
    pub calls: AtomicUsize,
}

impl<L> GatedLlm<L> {
    pub fn new(inner: L) -> Self {
        Self {
            inner,
            gate: Semaphore::new(0),
            calls: AtomicUsize::new(0),
        }
    }

    /// Lets one waiting (or the next) session answer.
    pub fn open_once(&self) {
        self.gate.add_permits(1);
    }
}

#[async_trait]
impl<L: LlmSession> LlmSession for GatedLlm<L> {
    async fn run(&self, request: LlmRequest) -> Result<LlmResponse, LlmError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.gate.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => {
                return Err(LlmError::Timeout {
                    after: std::time::Duration::ZERO,
                });
            }
        }
        self.inner.run(request).await
    }
}
