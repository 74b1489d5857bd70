//! [`ApiSession`]: an [`LlmSession`] over a model API ([`ChatApi`]): one call with the agent's
//! system prompt and prompt, no tools.

use std::sync::Arc;

use aito_core::{LlmError, LlmRequest, LlmResponse, LlmSession};
use async_trait::async_trait;
use tokio::time::Instant;
use tracing::Instrument;

use crate::anthropic::AnthropicApi;
use crate::chat::{ChatApi, Conversation, Item};
use crate::config::ApiConfig;
use crate::error::ApiError;
use crate::openai::OpenAiApi;

/// Runs agent sessions on a model API.
///
/// A session is one call: the system prompt as the stable (cached) prefix, the prompt as the
/// user message, the request's model or the provider's. Its cost comes from the API's token
/// counts and the provider's price table; its failures map onto [`LlmError`] as
/// [`ApiError`]'s conversion says. The request's timeout bounds the whole session, retries
/// included.
#[derive(Clone)]
pub struct ApiSession {
    api: Arc<dyn ChatApi>,
}

impl std::fmt::Debug for ApiSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiSession")
            .field("provider", &self.api.config().name)
            .finish()
    }
}

impl ApiSession {
    /// Sessions on `api`.
    pub fn new(api: Arc<dyn ChatApi>) -> Self {
        Self { api }
    }

    /// Sessions on the Anthropic Messages API.
    pub fn anthropic(config: ApiConfig) -> Result<Self, ApiError> {
        Ok(Self::new(Arc::new(AnthropicApi::new(config)?)))
    }

    /// Sessions on an OpenAI-compatible Chat Completions API.
    pub fn openai(config: ApiConfig) -> Result<Self, ApiError> {
        Ok(Self::new(Arc::new(OpenAiApi::new(config)?)))
    }

    /// The API.
    pub fn api(&self) -> &Arc<dyn ChatApi> {
        &self.api
    }

    /// Runs `request`; [`LlmSession::run`] maps the error onto [`LlmError`].
    pub async fn run_api(&self, request: LlmRequest) -> Result<LlmResponse, ApiError> {
        let started = Instant::now();
        let deadline = started + request.timeout;
        let config = self.api.config();
        let conversation = Conversation {
            model: request
                .model
                .clone()
                .unwrap_or_else(|| config.model.clone()),
            system: request.system_prompt,
            items: vec![Item::User(request.prompt)],
        };
        let turn = self.api.turn(&conversation, &[], deadline).await?;
        if turn.text.trim().is_empty() {
            return Err(ApiError::Stopped {
                provider: config.name.clone(),
                reason: if turn.stop.is_empty() {
                    "empty answer".to_owned()
                } else {
                    turn.stop
                },
            });
        }
        let cost_usd = config.cost(&conversation.model, &turn.tokens);
        let duration = started.elapsed();
        tracing::info!(
            provider = %config.name,
            model = %turn.model,
            input_tokens = turn.tokens.input,
            cache_read_tokens = turn.tokens.cache_read,
            cache_write_tokens = turn.tokens.cache_write,
            output_tokens = turn.tokens.output,
            cost_usd,
            duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            "model API session finished"
        );
        Ok(LlmResponse {
            text: turn.text,
            session_id: None,
            cost_usd,
            usage: turn.tokens.usage(),
            turns: 1,
            duration,
            provider: Some(config.name.clone()),
        })
    }
}

#[async_trait]
impl LlmSession for ApiSession {
    async fn run(&self, request: LlmRequest) -> Result<LlmResponse, LlmError> {
        let span = tracing::info_span!(
            "api_session",
            provider = %self.api.config().name,
            agent = %request.agent,
            role = %request.role,
        );
        async move {
            self.run_api(request).await.map_err(|error| {
                tracing::warn!(%error, "model API session failed");
                LlmError::from(error)
            })
        }
        .instrument(span)
        .await
    }
}
