//! The index layout: one document per passage, and the text analyzer shared by indexing and
//! querying.

use tantivy::Index;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};

/// The analyzer's name in the index's tokenizer manager.
pub(crate) const ANALYZER: &str = "aito_en";

/// The fields of a passage document.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fields {
    /// What a whole entry is deleted by: `file:<path>`, `decision:<id>`, `summary:<uuid>`...
    pub(crate) group: Field,
    /// `knowledge`, `summary`, `decision` or `worker`.
    pub(crate) kind: Field,
    /// `public`, or the id of the agent the passage is private to.
    pub(crate) owner: Field,
    /// Shown with the passage: a path and heading, `decision:<id>`, `summary:<role> <time>`.
    pub(crate) source: Field,
    /// Words that say what the whole entry is about (file name and headings, decision
    /// title, trigger, task); matches here count more.
    pub(crate) title: Field,
    /// The passage's text.
    pub(crate) body: Field,
    /// When the entry was written or last changed (Unix seconds), for the recency boost.
    pub(crate) at: Field,
    /// For knowledge files: modification time and size, to notice changes after a restart.
    pub(crate) stamp: Field,
}

/// The schema and its fields.
pub(crate) fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let text = |stored: bool| {
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqs);
        let options = TextOptions::default().set_indexing_options(indexing);
        if stored {
            options.set_stored()
        } else {
            options
        }
    };
    let fields = Fields {
        group: builder.add_text_field("group", STRING | STORED),
        kind: builder.add_text_field("kind", STRING | STORED),
        owner: builder.add_text_field("owner", STRING | STORED),
        source: builder.add_text_field("source", STORED),
        title: builder.add_text_field("title", text(false)),
        body: builder.add_text_field("body", text(true)),
        at: builder.add_i64_field("at", INDEXED | FAST | STORED),
        stamp: builder.add_text_field("stamp", STORED),
    };
    (builder.build(), fields)
}

/// The fields of an index opened from disk, if it has this layout.
pub(crate) fn fields_of(index: &Index) -> Option<Fields> {
    let (expected, fields) = schema();
    (index.schema() == expected).then_some(fields)
}

/// Words too common to say what a text is about; dropped from passages and queries.
const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at",
    "be", "been", "before", "being", "but", "by", "can", "could", "did", "do", "does", "doing",
    "done", "for", "from", "had", "has", "have", "having", "he", "her", "here", "him", "his",
    "how", "i", "if", "in", "into", "is", "it", "its", "just", "let", "me", "more", "most", "my",
    "no", "nor", "not", "now", "of", "on", "once", "only", "or", "other", "our", "ours", "out",
    "over", "please", "same", "she", "should", "so", "some", "such", "than", "that", "the",
    "their", "them", "then", "there", "these", "they", "this", "those", "through", "to", "too",
    "under", "until", "up", "us", "very", "was", "we", "were", "what", "when", "where", "which",
    "while", "who", "whom", "why", "will", "with", "would", "you", "your",
];

/// Numbers of one to three digits ("5,000" gives "5" and "000"; "2%" gives "2"): they say little
/// about what a text is about and match everywhere. Years and longer figures are kept.
fn short_numbers() -> impl Iterator<Item = String> {
    (1..=3usize)
        .flat_map(|width| (0..10usize.pow(width as u32)).map(move |n| format!("{n:0width$}")))
}

/// Registers the analyzer: words split on non-alphanumerics, lowercased, common English words
/// and short numbers dropped, English stems kept ("burns", "burning" → "burn").
pub(crate) fn register_analyzer(index: &Index) {
    let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(StopWordFilter::remove(
            STOP_WORDS
                .iter()
                .map(|word| (*word).to_owned())
                .chain(short_numbers()),
        ))
        .filter(Stemmer::new(Language::English))
        .build();
    index.tokenizers().register(ANALYZER, analyzer);
}

/// The analyzed terms of `text`, each once, in order of first appearance, at most `limit`.
pub(crate) fn terms(index: &Index, text: &str, limit: usize) -> Vec<String> {
    let Some(mut analyzer) = index.tokenizers().get(ANALYZER) else {
        return Vec::new();
    };
    let mut stream = analyzer.token_stream(text);
    let mut seen = std::collections::HashSet::new();
    let mut terms = Vec::new();
    while stream.advance() && terms.len() < limit {
        let term = &stream.token().text;
        if seen.insert(term.clone()) {
            terms.push(term.clone());
        }
    }
    terms
}
