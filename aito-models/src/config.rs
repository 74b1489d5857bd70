//! [`ApiConfig`]: where a model API is, which model to ask, how long to wait, how often to
//! retry, and what its tokens cost ([`Price`]).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use aito_core::TokenUsage;
use serde::{Deserialize, Serialize};

/// An API key: kept out of `Debug` output and logs.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// A key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key, for the request header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// What one model's tokens cost, in USD per million tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// Input tokens that were neither read from nor written to the prompt cache.
    pub input: f64,
    /// Output tokens.
    pub output: f64,
    /// Input tokens read from the prompt cache; by default a tenth of `input` (the Anthropic
    /// rate).
    #[serde(default)]
    pub cache_read: Option<f64>,
    /// Input tokens written to the prompt cache; by default 1.25 times `input` (the Anthropic
    /// rate for a five-minute cache).
    #[serde(default)]
    pub cache_write: Option<f64>,
}

/// Token counts of one model call as the API reported them, cache reads and writes apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    /// Input tokens neither read from nor written to the cache.
    pub input: u64,
    /// Input tokens read from the cache.
    pub cache_read: u64,
    /// Input tokens written to the cache.
    pub cache_write: u64,
    /// Output tokens.
    pub output: u64,
}

impl Tokens {
    /// These counts and `other`'s, added.
    pub fn add(&mut self, other: Tokens) {
        self.input += other.input;
        self.cache_read += other.cache_read;
        self.cache_write += other.cache_write;
        self.output += other.output;
    }

    /// As aito counts them: every input token (cache reads and writes included) and the output.
    pub fn usage(&self) -> TokenUsage {
        TokenUsage {
            input_tokens: self.input + self.cache_read + self.cache_write,
            output_tokens: self.output,
        }
    }
}

impl Price {
    /// The cost of `tokens` in USD.
    pub fn cost(&self, tokens: &Tokens) -> f64 {
        let per = |count: u64, rate: f64| count as f64 * rate / 1_000_000.0;
        per(tokens.input, self.input)
            + per(tokens.output, self.output)
            + per(
                tokens.cache_read,
                self.cache_read.unwrap_or(self.input * 0.1),
            )
            + per(
                tokens.cache_write,
                self.cache_write.unwrap_or(self.input * 1.25),
            )
    }
}

/// How to reach one model API.
///
/// Built with [`ApiConfig::new`] and the setters; every field has a default but the base URL
/// and the model.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiConfig {
    /// The provider's name, in logs, history and errors.
    pub name: String,
    /// The base URL: `https://api.anthropic.com` for the Messages API (the client adds
    /// `/v1/messages`), `http://localhost:11434/v1` for an OpenAI-compatible server (the client
    /// adds `/chat/completions`).
    pub base_url: String,
    /// The model of requests that name none.
    pub model: String,
    /// The API key, when the API needs one.
    pub api_key: Option<ApiKey>,
    /// `max_tokens` of each call.
    pub max_tokens: u32,
    /// The longest one call may go without a byte of its answer before it counts as hung
    /// (the whole session is bounded by the request's own timeout as well).
    pub idle_timeout: Duration,
    /// How long to wait to connect.
    pub connect_timeout: Duration,
    /// Retries of a call that got a 429, a 529, a 5xx or no connection.
    pub retries: u32,
    /// The longest wait before a retry; a `retry-after` longer than this is not waited out
    /// here but returned (as a rate limit), so that a router can fall back at once.
    pub max_retry_wait: Duration,
    /// The first backoff when the API names no `retry-after`; it doubles each retry.
    pub backoff: Duration,
    /// Prices per model name; a model missing from the table costs nothing (local servers).
    pub prices: BTreeMap<String, Price>,
}

impl ApiConfig {
    /// A provider called `name` at `base_url`, asking `model`.
    pub fn new(
        name: impl Into<String>,
        base_url: impl Into<String>,
        model: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            model: model.into(),
            api_key: None,
            max_tokens: 8192,
            idle_timeout: Duration::from_secs(120),
            connect_timeout: Duration::from_secs(10),
            retries: 2,
            max_retry_wait: Duration::from_secs(10),
            backoff: Duration::from_millis(500),
            prices: BTreeMap::new(),
        }
    }

    /// Sets the API key.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(ApiKey::new(key));
        self
    }

    /// Sets `max_tokens`.
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = max_tokens;
        self
    }

    /// Sets the idle timeout of one call.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets the number of retries and the longest wait before one.
    pub fn retries(mut self, retries: u32, max_wait: Duration) -> Self {
        self.retries = retries;
        self.max_retry_wait = max_wait;
        self
    }

    /// Sets the first backoff when the API names no `retry-after`.
    pub fn backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// Sets the price of `model`.
    pub fn price(mut self, model: impl Into<String>, price: Price) -> Self {
        self.prices.insert(model.into(), price);
        self
    }

    /// The cost of `tokens` on `model`: zero when the table has no price for it.
    pub fn cost(&self, model: &str, tokens: &Tokens) -> f64 {
        self.prices
            .get(model)
            .map_or(0.0, |price| price.cost(tokens))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_reads_and_writes_have_their_own_rates() {
        let price = Price {
            input: 3.0,
            output: 15.0,
            cache_read: None,
            cache_write: None,
        };
        let tokens = Tokens {
            input: 1_000_000,
            cache_read: 1_000_000,
            cache_write: 1_000_000,
            output: 1_000_000,
        };
        let cost = price.cost(&tokens);
        assert!((cost - (3.0 + 0.3 + 3.75 + 15.0)).abs() < 1e-9, "{cost}");
        assert_eq!(tokens.usage().input_tokens, 3_000_000);
    }

    #[test]
    fn keys_stay_out_of_debug_output() {
        let config = ApiConfig::new("a", "http://x/", "m").api_key("sk-secret");
        assert!(!format!("{config:?}").contains("sk-secret"));
        assert_eq!(config.base_url, "http://x");
        assert_eq!(config.cost("unknown", &Tokens::default()), 0.0);
    }
}
