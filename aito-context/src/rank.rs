//! How passages are ranked ([`Ranking`]) and who may see them ([`Visibility`]).

use std::time::Duration;

use aito_core::Role;

/// How passages are ranked: BM25 relevance times a recency factor, then cut.
///
/// A query is the distinct words of the trigger (lowercased, stemmed, common words dropped).
/// A passage matches if it shares enough of them ([`min_shared_terms`](Self::min_shared_terms));
/// its BM25 score sums the words found in its text and, weighted by
/// [`title_boost`](Self::title_boost), in what its entry is about.
///
/// The recency factor of an entry `age` old is `floor + (1 - floor) * 0.5^(age / half_life)`:
/// 1 for an entry written now, halfway between 1 and `floor` after one half-life, never below
/// `floor`. Age is counted from the time passed to the search (the company clock), never read
/// from the system clock, so rankings are reproducible.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranking {
    /// Age at which the recency bonus is halved.
    pub half_life: Duration,
    /// The smallest recency factor, for very old entries (0 to 1).
    pub recency_floor: f32,
    /// Passages scoring below this fraction of the best passage are left out (0 to 1), so a
    /// passage that shares one common word with the query does not ride along.
    pub min_relative_score: f32,
    /// For a query of three words or more, a passage must share at least this many distinct
    /// words with it (one shared word is usually a coincidence: "schedule" in "meeting
    /// schedule" and "burn schedule").
    pub min_shared_terms: usize,
    /// At most this many passages per query.
    pub max_passages: usize,
    /// Weight of a match in what an entry is about (file name and headings, decision title,
    /// trigger, task) against a match in the text.
    pub title_boost: f32,
    /// The query keeps at most this many distinct words.
    pub max_query_terms: usize,
}

impl Default for Ranking {
    fn default() -> Self {
        Self {
            half_life: Duration::from_secs(30 * 24 * 3600),
            recency_floor: 0.5,
            min_relative_score: 0.3,
            min_shared_terms: 2,
            max_passages: 8,
            title_boost: 1.5,
            max_query_terms: 64,
        }
    }
}

impl Ranking {
    /// The recency factor of an entry `age_secs` old (0 or negative: written now or later).
    pub fn recency(&self, age_secs: i64) -> f32 {
        let floor = self.recency_floor.clamp(0.0, 1.0);
        if age_secs <= 0 || self.half_life.is_zero() {
            return 1.0;
        }
        let half_lives = age_secs as f64 / self.half_life.as_secs_f64();
        floor + (1.0 - floor) * 0.5f64.powf(half_lives) as f32
    }
}

/// Who may see what.
///
/// - Knowledge files and decisions are company-wide: every agent sees them.
/// - Session summaries and worker results are private to the agent they belong to, and
///   visible to the overseer roles (by default the CEO, who directs the others).
///
/// The rule is applied when searching, so changing the overseers applies to everything
/// already indexed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visibility {
    /// Roles that also see every agent's private entries.
    pub overseers: Vec<Role>,
}

impl Default for Visibility {
    fn default() -> Self {
        Self {
            overseers: vec![Role::Ceo],
        }
    }
}

impl Visibility {
    /// Private entries are seen by their agent alone, not even by the CEO.
    pub fn strict() -> Self {
        Self {
            overseers: Vec::new(),
        }
    }

    /// Whether `role` sees every agent's private entries.
    pub fn oversees(&self, role: &Role) -> bool {
        self.overseers.contains(role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recency_halves_the_bonus_each_half_life_and_stays_above_the_floor() {
        let ranking = Ranking {
            half_life: Duration::from_secs(100),
            recency_floor: 0.5,
            ..Ranking::default()
        };
        assert_eq!(ranking.recency(0), 1.0);
        assert_eq!(ranking.recency(-50), 1.0, "written after now counts as new");
        assert!((ranking.recency(100) - 0.75).abs() < 1e-6);
        assert!((ranking.recency(200) - 0.625).abs() < 1e-6);
        assert!(ranking.recency(1_000_000) >= 0.5);
        assert!(
            ranking.recency(10) > ranking.recency(20),
            "newer ranks higher"
        );
    }
}
