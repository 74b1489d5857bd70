//! The response parser: finds the model's JSON answer in whatever text it wrote.
//!
//! The model is asked for one JSON object, bare or in a fenced block, and often adds prose,
//! echoes examples from its prompt, or writes several objects. The rule: the **last**
//! well-formed JSON object with an `actions` or `messages` key is the answer (the original
//! system took the first fence and could execute an example echoed from the prompt). Output
//! with no such object is an error that names what was expected and what was seen; it is never
//! read as "no actions".
//!
//! Cost: the common shapes (bare JSON, a last fenced block) are decoded with one
//! `serde_json` pass after a `memchr`-speed search; only unusual text gets the full scan.

use std::fmt;

use serde_json::Value;

use crate::action::ModelResponse;
use crate::envelope::preview;

/// What the parser looked for, in every error.
pub const EXPECTED: &str = "one JSON object with an \"actions\" or \"messages\" key";

/// Unreadable model output. The message says what was expected and what was seen, and is
/// shown to the model in the repair prompt.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    /// What was expected.
    pub expected: &'static str,
    /// What was seen instead.
    pub seen: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected {}; saw {}", self.expected, self.seen)
    }
}

/// Parses a model's output into a [`ModelResponse`].
///
/// Never panics, whatever the input.
pub fn parse_response(text: &str) -> Result<ModelResponse, ParseError> {
    if let Some(response) = fast_path(text) {
        return Ok(response);
    }
    full_scan(text)
}

/// The common shapes, decoded with one pass: the whole text is the object, or the last fenced
/// block is and nothing that could be an object follows it.
fn fast_path(text: &str) -> Option<ModelResponse> {
    let trimmed = text.trim();
    if trimmed.starts_with('{')
        && trimmed.ends_with('}')
        && let Some(response) = ModelResponse::from_json(trimmed)
    {
        return Some(response);
    }
    let (body, after) = last_fence(text)?;
    if after.contains('{') {
        return None;
    }
    let body = body.trim();
    if !body.starts_with('{') {
        return None;
    }
    ModelResponse::from_json(body)
}

/// The body of the last closed fenced block and the text after it.
fn last_fence(text: &str) -> Option<(&str, &str)> {
    let close = rfind_fence(text.as_bytes())?;
    let open = rfind_fence(&text.as_bytes()[..close])?;
    // The body starts after the opening fence's info string (```json, ```JSON, ```).
    let after_open = &text[open + 3..close];
    let body = match after_open.find('\n') {
        Some(newline) => {
            let info = after_open[..newline].trim();
            if info.contains('{') {
                after_open
            } else {
                &after_open[newline + 1..]
            }
        }
        None => after_open,
    };
    Some((body, &text[close + 3..]))
}

/// Where the last "```" in `bytes` starts. The opening fence sits a whole answer back from
/// the closing one, so the search goes by single backticks, which `memrchr` finds with SIMD.
fn rfind_fence(bytes: &[u8]) -> Option<usize> {
    let mut end = bytes.len();
    while let Some(at) = memchr::memrchr(b'`', &bytes[..end]) {
        if at >= 2 && bytes[at - 1] == b'`' && bytes[at - 2] == b'`' {
            return Some(at - 2);
        }
        end = at;
    }
    None
}

/// A balanced `{…}` span found by the scanner.
struct Span {
    start: usize,
    end: usize,
}

/// Finds every top-level balanced `{…}` span at or after `from`, tracking JSON strings so
/// that braces inside them do not count. An unterminated object yields a span to the end.
fn spans(text: &str, from: usize, out: &mut Vec<Span>) {
    let bytes = text.as_bytes();
    let mut index = from;
    while index < bytes.len() {
        let Some(offset) = bytes[index..].iter().position(|&b| b == b'{') else {
            return;
        };
        let start = index + offset;
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        let mut end = None;
        for (position, &byte) in bytes.iter().enumerate().skip(start) {
            if in_string {
                if escaped {
                    escaped = false;
                } else if byte == b'\\' {
                    escaped = true;
                } else if byte == b'"' {
                    in_string = false;
                }
                continue;
            }
            match byte {
                b'"' => in_string = true,
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(position + 1);
                        break;
                    }
                }
                _ => {}
            }
        }
        match end {
            Some(end) => {
                out.push(Span { start, end });
                index = end;
            }
            None => {
                out.push(Span {
                    start,
                    end: bytes.len(),
                });
                return;
            }
        }
    }
}

/// What the scan saw, for the error message.
#[derive(Default)]
struct Seen {
    objects: usize,
    unreadable: Option<String>,
    keys: Option<Vec<String>>,
}

/// Decodes a span; on failure retries once with trailing commas removed, the most common
/// slip of models writing JSON by hand.
fn decode(span: &str) -> Result<Value, serde_json::Error> {
    match serde_json::from_str::<Value>(span) {
        Ok(value) => Ok(value),
        Err(err) => match without_trailing_commas(span) {
            Some(repaired) => serde_json::from_str::<Value>(&repaired).map_err(|_| err),
            None => Err(err),
        },
    }
}

/// The text with commas that precede `}` or `]` (outside strings) removed; `None` if there
/// were none.
fn without_trailing_commas(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut changed = false;
    let chars: Vec<char> = text.chars().collect();
    for (index, &c) in chars.iter().enumerate() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        if c == ',' {
            let next = chars[index + 1..].iter().find(|c| !c.is_whitespace());
            if matches!(next, Some('}') | Some(']')) {
                changed = true;
                continue;
            }
        }
        out.push(c);
    }
    changed.then_some(out)
}

/// Nesting depth to which the scan looks inside objects that did not decode.
const MAX_NESTED_SCAN: usize = 4;

fn full_scan(text: &str) -> Result<ModelResponse, ParseError> {
    if text.trim().is_empty() {
        return Err(ParseError {
            expected: EXPECTED,
            seen: "empty output".to_owned(),
        });
    }
    let mut seen = Seen::default();
    if let Some(value) = scan_region(text, 0, 0, &mut seen) {
        return ModelResponse::from_value(value).map_err(|seen| ParseError {
            expected: EXPECTED,
            seen,
        });
    }
    let seen = match (seen.objects, seen.unreadable, seen.keys) {
        (0, _, _) => format!(
            "text with no JSON object ({} characters): \"{}\"",
            text.chars().count(),
            preview(text.trim(), 120)
        ),
        (_, _, Some(keys)) => format!(
            "JSON without an \"actions\" or \"messages\" key (the last object has keys [{}])",
            keys.join(", ")
        ),
        (_, Some(unreadable), None) => unreadable,
        (n, None, None) => format!("{n} object(s), none of them a response"),
    };
    Err(ParseError {
        expected: EXPECTED,
        seen,
    })
}

/// Scans `text[from..]` for spans, latest first; returns the last qualifying object.
fn scan_region(text: &str, from: usize, depth: usize, seen: &mut Seen) -> Option<Value> {
    let mut found = Vec::new();
    spans(text, from, &mut found);
    for span in found.iter().rev() {
        let slice = &text[span.start..span.end];
        seen.objects += 1;
        match decode(slice) {
            Ok(value) if ModelResponse::looks_like_response(&value) => return Some(value),
            Ok(value) => {
                if seen.keys.is_none() {
                    seen.keys = Some(match &value {
                        Value::Object(object) => object.keys().take(8).cloned().collect(),
                        _ => Vec::new(),
                    });
                }
            }
            Err(err) => {
                if seen.unreadable.is_none() {
                    seen.unreadable = Some(format!(
                        "a JSON object that does not parse ({err}): \"{}\"",
                        preview(slice, 120)
                    ));
                }
                // An object that does not decode may still contain one that does.
                if depth < MAX_NESTED_SCAN && span.start + 1 < span.end {
                    let inner_end = span.end;
                    let inner = &text[..inner_end];
                    if let Some(value) = scan_region(inner, span.start + 1, depth + 1, seen) {
                        return Some(value);
                    }
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Action;

    #[test]
    fn bare_json() {
        let response = parse_response(r#"{"summary":"ok","actions":[]}"#).unwrap();
        assert_eq!(response.summary.as_deref(), Some("ok"));
    }

    #[test]
    fn the_last_response_object_wins_over_an_echoed_example() {
        let text = "Here is the format:\n```json\n{\"actions\":[{\"type\":\"alert\",\"message\":\"EXAMPLE\"}]}\n```\nMy answer:\n```json\n{\"actions\":[{\"type\":\"alert\",\"message\":\"real\"}]}\n```\n";
        let response = parse_response(text).unwrap();
        assert!(matches!(&response.actions[0], Action::Alert { message, .. } if message == "real"));
    }

    #[test]
    fn fences_are_found_past_single_backticks_and_longer_runs() {
        assert_eq!(rfind_fence(b"a ``` b `c` d"), Some(2));
        assert_eq!(rfind_fence(b"````"), Some(1));
        assert_eq!(rfind_fence(b"`` ` ``"), None);
        assert_eq!(rfind_fence(b""), None);
        let text = "Use `cargo test`:\n````json\n{\"actions\":[],\"summary\":\"`x`\"}\n````";
        assert_eq!(
            parse_response(text).unwrap().summary.as_deref(),
            Some("`x`")
        );
    }

    #[test]
    fn prose_after_the_fence_with_an_object_is_considered() {
        let text = "```json\n{\"actions\":[]}\n```\nActually, final: {\"messages\":[{\"to\":\"cto\",\"content\":\"go\"}]}";
        let response = parse_response(text).unwrap();
        assert_eq!(response.messages.len(), 1);
    }

    #[test]
    fn braces_inside_strings_do_not_confuse_the_scan() {
        let text = "Note {not json}. {\"summary\":\"uses } and { in text\",\"actions\":[]} done";
        let response = parse_response(text).unwrap();
        assert_eq!(response.summary.as_deref(), Some("uses } and { in text"));
    }

    #[test]
    fn trailing_commas_are_forgiven() {
        let text = "{\"actions\": [{\"type\": \"alert\", \"message\": \"x\",},],}";
        assert_eq!(parse_response(text).unwrap().actions.len(), 1);
    }

    #[test]
    fn errors_say_what_was_expected_and_seen() {
        let err = parse_response("I could not decide anything today.").unwrap_err();
        assert!(
            err.to_string().contains("expected one JSON object"),
            "{err}"
        );
        assert!(err.seen.contains("no JSON object"), "{err}");
        let err = parse_response("{\"summary\": \"only a summary\"}").unwrap_err();
        assert!(err.seen.contains("summary"), "{err}");
        let err = parse_response("{\"actions\": [ {\"type\": \"alert\"").unwrap_err();
        assert!(err.seen.contains("does not parse"), "{err}");
        assert_eq!(parse_response("  ").unwrap_err().seen, "empty output");
    }
}
