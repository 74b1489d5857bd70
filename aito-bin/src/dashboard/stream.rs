//! `GET /api/logs/stream`: worker log lines as server-sent events.
//!
//! Each stream subscribes to the live lines first, then reads the recent history from the
//! store, sends the history, then the live lines, skipping any that were already in the
//! history, so nothing falls in the gap between the two. Each event is `event: line` with the
//! envelope id as its `id` and a [`LogLine`] as JSON data. When the browser reconnects with
//! `Last-Event-ID`, the history up to that line is skipped. A stream that falls more than the
//! live buffer behind gets an `event: lagged` with the number of lines it missed. Streams end
//! when the dashboard shuts down.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use futures_util::stream::{self, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::DashboardState;
use super::api::{LogQuery, recent_lines};
use super::worker_logs::LogLine;

/// History lines sent when a stream opens.
const HISTORY: usize = 200;

fn line_event(line: &LogLine) -> SseEvent {
    let event = SseEvent::default().event("line").id(line.id.clone());
    match event.clone().json_data(line) {
        Ok(event) => event,
        Err(_) => event.data("{}"),
    }
}

/// `GET /api/logs/stream`.
pub(crate) async fn logs(
    State(state): State<DashboardState>,
    Query(query): Query<LogQuery>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let receiver = state.hub.logs.subscribe();
    let mut history = match recent_lines(&state, HISTORY).await {
        Ok(lines) => lines,
        Err(err) => {
            tracing::warn!(error = %err.reason, "worker log history unavailable");
            Vec::new()
        }
    };
    let seen: HashSet<String> = history.iter().map(|line| line.id.clone()).collect();
    let last_seen = headers
        .get("last-event-id")
        .and_then(|value| value.to_str().ok());
    if let Some(position) =
        last_seen.and_then(|last| history.iter().position(|line| line.id == last))
    {
        history.drain(..=position);
    }
    let query = Arc::new(query);
    let history: Vec<Result<SseEvent, Infallible>> = history
        .iter()
        .filter(|line| query.matches(line))
        .map(|line| Ok(line_event(line)))
        .collect();
    let closing = state.hub.closing.clone();
    let live = stream::unfold(
        (receiver, seen, query, closing),
        |(mut receiver, seen, query, closing)| async move {
            loop {
                let next = tokio::select! {
                    next = receiver.recv() => next,
                    () = closing.cancelled() => return None,
                };
                let event = match next {
                    Ok(line) if seen.contains(&line.id) || !query.matches(&line) => continue,
                    Ok(line) => line_event(&line),
                    Err(RecvError::Lagged(missed)) => {
                        SseEvent::default().event("lagged").data(missed.to_string())
                    }
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok(event), (receiver, seen, query, closing)));
            }
        },
    );
    Sse::new(stream::iter(history).chain(live)).keep_alive(KeepAlive::default())
}
