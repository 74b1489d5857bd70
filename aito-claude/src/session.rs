//! [`ClaudeSession`]: an [`LlmSession`] that runs one lean `claude -p` process per session.

use std::ffi::OsString;

use aito_core::{LlmError, LlmRequest, LlmResponse, LlmSession};
use async_trait::async_trait;
use chrono::Utc;
use tracing::Instrument;

use crate::config::ClaudeConfig;
use crate::error::ClaudeError;
use crate::process::{self, Launch, StdoutSink};
use crate::result;

/// The longest single argument Linux accepts (`MAX_ARG_STRLEN`, 32 pages, less the NUL).
pub(crate) const MAX_ARG_BYTES: usize = 32 * 4096 - 1;

/// Checks one argument against [`MAX_ARG_BYTES`], so a huge system prompt fails with a clear
/// error instead of `E2BIG` from `exec`.
pub(crate) fn checked_arg(what: &'static str, arg: String) -> Result<OsString, ClaudeError> {
    if arg.len() > MAX_ARG_BYTES {
        return Err(ClaudeError::ArgumentTooLong {
            what,
            len: arg.len(),
            max: MAX_ARG_BYTES,
        });
    }
    Ok(arg.into())
}

/// The texts with which the CLI refuses to resume a session it does not have: an unknown
/// session id, and a value that is neither a session id nor a session title.
const NO_SUCH_SESSION: [&str; 2] = [
    "No conversation found with session ID",
    "--resume requires a valid session ID",
];

/// Runs one agent session as one headless `claude` process.
///
/// The command is `BINARY -p --output-format stream-json --verbose --no-session-persistence
/// --safe-mode --tools= --strict-mcp-config [--model M] [--max-turns N]
/// [--system-prompt=SYSTEM] [--resume=SESSION] [EXTRA_ARGS...]`, built as an argument list
/// (never a shell string), with the prompt written to stdin, which is then closed. A session
/// only answers with JSON, so it gets nothing else: no built-in tools (`--tools=`), no MCP
/// server (`--strict-mcp-config` with none), no `CLAUDE.md`, hooks, plugins or skills
/// (`--safe-mode`), Claude Code's own system prompt replaced by aito's (`--system-prompt`),
/// and no transcript left on disk unless the session is resumed or is to be kept
/// (`--no-session-persistence`). The stable system prompt comes first in the request, so it is
/// the cacheable prefix.
///
/// The child runs in its own process group, without `CLAUDECODE` in its environment and with
/// `CLAUDE_CODE_MAX_RETRIES` set as configured; at the request's timeout the whole group is
/// terminated. A resume the CLI refuses (unknown session) starts a fresh session. See
/// [`ClaudeConfig`] for the knobs and docs/claude.md for the error mapping.
#[derive(Clone, Debug)]
pub struct ClaudeSession {
    config: ClaudeConfig,
}

impl ClaudeSession {
    /// A session runner with `config`.
    pub fn new(config: ClaudeConfig) -> Self {
        Self { config }
    }

    /// Its configuration.
    pub fn config(&self) -> &ClaudeConfig {
        &self.config
    }

    /// The arguments for `request` (the prompt is not among them: it goes to stdin).
    pub fn arguments(&self, request: &LlmRequest) -> Result<Vec<OsString>, ClaudeError> {
        let mut args: Vec<OsString> = ["-p", "--output-format", "stream-json", "--verbose"]
            .map(OsString::from)
            .into();
        if request.resume_session.is_none() && !request.keep_session {
            args.push("--no-session-persistence".into());
        }
        args.extend(["--safe-mode", "--tools=", "--strict-mcp-config"].map(OsString::from));
        if let Some(model) = request.model.as_ref().or(self.config.model.as_ref()) {
            args.push("--model".into());
            args.push(model.into());
        }
        if let Some(turns) = request.max_turns {
            args.push("--max-turns".into());
            args.push(turns.to_string().into());
        }
        if !request.system_prompt.is_empty() {
            // The `=` form: a value starting with `-` cannot be taken for a flag.
            args.push(checked_arg(
                "the system prompt",
                format!("--system-prompt={}", request.system_prompt),
            )?);
        }
        if let Some(session) = &request.resume_session {
            args.push(checked_arg(
                "the session id",
                format!("--resume={session}"),
            )?);
        }
        args.extend(self.config.extra_args.iter().map(OsString::from));
        Ok(args)
    }

    /// Runs the request; [`LlmSession::run`] maps the error onto [`LlmError`]. When the CLI
    /// has no session to resume, the request runs again as a fresh session.
    pub async fn run_claude(&self, request: LlmRequest) -> Result<LlmResponse, ClaudeError> {
        let Some(session) = request.resume_session.clone() else {
            return self.run_once(&request).await;
        };
        match self.run_once(&request).await {
            Err(error) if is_unknown_session(&error) => {
                tracing::warn!(
                    session,
                    %error,
                    "claude has no session to resume; starting a fresh one"
                );
                let fresh = LlmRequest {
                    resume_session: None,
                    keep_session: true,
                    ..request
                };
                self.run_once(&fresh).await
            }
            other => other,
        }
    }

    async fn run_once(&self, request: &LlmRequest) -> Result<LlmResponse, ClaudeError> {
        let args = self.arguments(request)?;
        let exit = process::run(
            Launch {
                config: &self.config,
                args,
                stdin: request.prompt.clone().into_bytes(),
                timeout: request.timeout,
                silence: None,
                working_dir: request.working_dir.as_deref(),
                env: Vec::new(),
            },
            StdoutSink::Whole,
        )
        .await?;
        if !exit.stderr_tail.is_empty() {
            tracing::debug!(stderr = %exit.stderr_tail, "claude wrote to stderr");
        }
        let now = Utc::now();
        let result = match result::find_in_json_output(&exit.stdout) {
            Ok(result) => result,
            Err(unreadable) => return Err(result::without_result(&exit, unreadable, now)),
        };
        let hints = result::stream_hints(&exit.stdout);
        let duration = result.duration.unwrap_or(exit.elapsed);
        match result.outcome(now, &hints) {
            Ok(text) => {
                tracing::info!(
                    session_id = result.session_id.as_deref().unwrap_or(""),
                    cost_usd = result.cost_usd,
                    turns = result.num_turns,
                    input_tokens = result.usage.input_tokens,
                    output_tokens = result.usage.output_tokens,
                    duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
                    "claude session finished"
                );
                Ok(LlmResponse {
                    text,
                    session_id: result.session_id,
                    cost_usd: result.cost_usd,
                    usage: result.usage,
                    turns: result.num_turns,
                    duration,
                    provider: None,
                })
            }
            Err(error) => {
                // An error result still cost money; the error type has no place for it.
                tracing::info!(
                    cost_usd = result.cost_usd,
                    turns = result.num_turns,
                    "claude session ended with an error result"
                );
                Err(error)
            }
        }
    }
}

/// Whether `error` is the CLI refusing to resume a session it does not have.
fn is_unknown_session(error: &ClaudeError) -> bool {
    let text = match error {
        ClaudeError::Exit { stderr_tail, .. } => stderr_tail.as_str(),
        ClaudeError::ErrorResult { message, .. } => message.as_str(),
        _ => return false,
    };
    NO_SUCH_SESSION.iter().any(|needle| text.contains(needle))
}

#[async_trait]
impl LlmSession for ClaudeSession {
    async fn run(&self, request: LlmRequest) -> Result<LlmResponse, LlmError> {
        let span = tracing::info_span!(
            "claude_session",
            agent = %request.agent,
            role = %request.role,
            model = request.model.as_deref().or(self.config.model.as_deref()).unwrap_or("default"),
            resume = request.resume_session.as_deref().unwrap_or(""),
        );
        async move {
            self.run_claude(request).await.map_err(|error| {
                tracing::warn!(%error, "claude session failed");
                LlmError::from(error)
            })
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use aito_core::{AgentId, Role};

    use super::*;

    fn request() -> LlmRequest {
        LlmRequest {
            agent: AgentId::random(),
            role: Role::Cto,
            system_prompt: "-be brief".into(),
            prompt: "secret prompt".into(),
            resume_session: Some("-abc".into()),
            keep_session: false,
            model: None,
            max_turns: Some(3),
            timeout: Duration::from_secs(5),
            working_dir: None,
            kind: Default::default(),
            tier: None,
        }
    }

    #[test]
    fn builds_the_argument_list() {
        let session = ClaudeSession::new(
            ClaudeConfig::new("claude")
                .model("haiku")
                .extra_arg("--verbose"),
        );
        let args = session.arguments(&request()).unwrap();
        assert_eq!(
            args,
            [
                "-p",
                "--output-format",
                "stream-json",
                "--verbose",
                "--safe-mode",
                "--tools=",
                "--strict-mcp-config",
                "--model",
                "haiku",
                "--max-turns",
                "3",
                "--system-prompt=-be brief",
                "--resume=-abc",
                "--verbose"
            ]
            .map(OsString::from)
        );
        // Not resumed and not to be kept: no transcript is written.
        let mut fresh = request();
        fresh.resume_session = None;
        let args = session.arguments(&fresh).unwrap();
        assert!(args.contains(&OsString::from("--no-session-persistence")));
        fresh.keep_session = true;
        let args = session.arguments(&fresh).unwrap();
        assert!(!args.contains(&OsString::from("--no-session-persistence")));
        assert!(
            !args
                .iter()
                .any(|arg| arg.to_string_lossy().contains("secret prompt"))
        );
    }

    #[test]
    fn refuses_a_system_prompt_too_long_for_one_argument() {
        let session = ClaudeSession::new(ClaudeConfig::default());
        let mut request = request();
        request.system_prompt = "x".repeat(MAX_ARG_BYTES);
        assert!(matches!(
            session.arguments(&request),
            Err(ClaudeError::ArgumentTooLong {
                what: "the system prompt",
                ..
            })
        ));
    }
}
