//! Cutting documents into passages: markdown by heading, then by paragraph; plain text by
//! paragraph. A passage holds at most [`MAX_PASSAGE`] bytes, so it is a few hundred to about
//! 1,500 characters: long enough to carry a thought, short enough to share a prompt.

/// The largest passage, in bytes (so at most this many characters).
pub const MAX_PASSAGE: usize = 1_500;

/// One passage of a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// The headings above it, outermost first, joined with ` › ` (empty before any heading).
    pub heading: String,
    /// The text.
    pub text: String,
}

/// Cuts markdown into passages: one section per heading (headings inside fenced code blocks
/// do not count), each section packed by paragraph into passages of at most `max` bytes.
/// Sections without text (a heading directly followed by a sub-heading) give no passage; their
/// heading lives on in the heading path of what follows.
pub fn markdown(text: &str, max: usize) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut body = String::new();
    let mut fence: Option<&str> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(marker) = fence {
            if trimmed.starts_with(marker) {
                fence = None;
            }
        } else if trimmed.starts_with("```") {
            fence = Some("```");
        } else if trimmed.starts_with("~~~") {
            fence = Some("~~~");
        } else if let Some((level, title)) = heading(line) {
            flush(&path, &mut body, max, &mut chunks);
            path.retain(|(outer, _)| *outer < level);
            path.push((level, title.to_owned()));
            continue;
        }
        body.push_str(line);
        body.push('\n');
    }
    flush(&path, &mut body, max, &mut chunks);
    chunks
}

/// Cuts plain text into passages of at most `max` bytes, by paragraph.
pub fn plain(text: &str, max: usize) -> Vec<Chunk> {
    pack(text, max)
        .into_iter()
        .map(|text| Chunk {
            heading: String::new(),
            text,
        })
        .collect()
}

/// Packs the paragraphs of `text` (separated by blank lines) into pieces of at most `max`
/// bytes; a paragraph longer than that is split between words.
pub fn pack(text: &str, max: usize) -> Vec<String> {
    let max = max.max(16);
    let mut pieces = Vec::new();
    let mut current = String::new();
    for paragraph in paragraphs(text) {
        for part in split_long(paragraph, max) {
            if !current.is_empty() && current.len() + 2 + part.len() > max {
                pieces.push(std::mem::take(&mut current));
            }
            if !current.is_empty() {
                current.push_str("\n\n");
            }
            current.push_str(part);
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

/// A markdown ATX heading: its level and text.
fn heading(line: &str) -> Option<(usize, &str)> {
    let hashes = line.bytes().take_while(|byte| *byte == b'#').count();
    if hashes == 0 || hashes > 6 {
        return None;
    }
    let rest = &line[hashes..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    let title = rest.trim().trim_end_matches('#').trim_end();
    Some((hashes, title))
}

fn flush(path: &[(usize, String)], body: &mut String, max: usize, chunks: &mut Vec<Chunk>) {
    if body.trim().is_empty() {
        body.clear();
        return;
    }
    let heading = path
        .iter()
        .map(|(_, title)| title.as_str())
        .filter(|title| !title.is_empty())
        .collect::<Vec<_>>()
        .join(" › ");
    for text in pack(body, max) {
        chunks.push(Chunk {
            heading: heading.clone(),
            text,
        });
    }
    body.clear();
}

/// Paragraphs: runs of non-blank lines, trimmed.
fn paragraphs(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        loop {
            let start = rest.find(|c: char| !c.is_whitespace())?;
            rest = &rest[start..];
            let end = blank_line(rest).unwrap_or(rest.len());
            let paragraph = rest[..end].trim();
            rest = &rest[end..];
            if !paragraph.is_empty() {
                return Some(paragraph);
            }
        }
    })
}

/// Where the first blank line in `text` starts.
fn blank_line(text: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if offset > 0 && line.trim().is_empty() {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

/// Splits `text` into parts of at most `max` bytes, between words where possible.
fn split_long(text: &str, max: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut end = max;
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        let cut = rest[..end]
            .rfind(char::is_whitespace)
            .filter(|at| *at > max / 2)
            .unwrap_or(end);
        parts.push(rest[..cut].trim_end());
        rest = rest[cut..].trim_start();
    }
    if !rest.is_empty() {
        parts.push(rest);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_cut_by_heading_with_the_heading_path() {
        let text = "# Tokenomics\nIntro line.\n\n## Burn schedule\nWe burn 2% monthly.\n\n## Vesting\n### Team\nFour years.\n```\n# not a heading\n```\n";
        let chunks = markdown(text, MAX_PASSAGE);
        let seen: Vec<(&str, &str)> = chunks
            .iter()
            .map(|chunk| (chunk.heading.as_str(), chunk.text.as_str()))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("Tokenomics", "Intro line."),
                ("Tokenomics › Burn schedule", "We burn 2% monthly."),
                (
                    "Tokenomics › Vesting › Team",
                    "Four years.\n```\n# not a heading\n```"
                ),
            ]
        );
    }

    #[test]
    fn long_sections_are_packed_by_paragraph_within_the_limit() {
        let paragraph = "word ".repeat(60); // 300 bytes
        let text = format!("# Long\n{}", [paragraph.as_str(); 12].join("\n\n"));
        let chunks = markdown(&text, 1_000);
        assert!(chunks.len() >= 4, "{}", chunks.len());
        for chunk in &chunks {
            assert!(chunk.text.len() <= 1_000, "{}", chunk.text.len());
            assert!(chunk.text.len() >= 290, "paragraphs are packed together");
            assert_eq!(chunk.heading, "Long");
        }
        let words: usize = chunks
            .iter()
            .map(|chunk| chunk.text.split_whitespace().count())
            .sum();
        assert_eq!(words, 12 * 60, "nothing is lost");
    }

    #[test]
    fn a_paragraph_longer_than_the_limit_is_split_between_words() {
        let text = "ééé ".repeat(500);
        let pieces = pack(&text, 200);
        assert!(pieces.iter().all(|piece| piece.len() <= 200));
        assert!(pieces.iter().all(|piece| piece.starts_with('é')));
        let words: usize = pieces
            .iter()
            .map(|piece| piece.split_whitespace().count())
            .sum();
        assert_eq!(words, 500);
    }

    #[test]
    fn plain_text_and_empty_documents() {
        assert!(plain("  \n\n ", MAX_PASSAGE).is_empty());
        assert!(markdown("# Only a heading\n## And another\n", MAX_PASSAGE).is_empty());
        let chunks = plain("first\nstill first\n\n\nsecond", MAX_PASSAGE);
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].text, "first\nstill first\n\nsecond");
        assert!(heading("#hashtag").is_none());
        assert_eq!(heading("## Burn ##"), Some((2, "Burn")));
    }
}
