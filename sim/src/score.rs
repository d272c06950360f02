//! B-cubed precision, recall and F1 of a clustering of events against the true persons, and
//! the relative error of the person count.
//!
//! For each event, precision is the share of events in its predicted person that truly
//! belong to its person, and recall the share of its true person's events that landed in
//! its predicted person; both are averaged over events (Bagga and Baldwin, 1998). Merging
//! people costs precision, splitting one person costs recall.

use std::collections::HashMap;
use std::hash::Hash;

/// How well a clustering matches the truth.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scores {
    /// B-cubed precision, 0 to 1.
    pub precision: f64,
    /// B-cubed recall, 0 to 1.
    pub recall: f64,
    /// Harmonic mean of the two.
    pub f1: f64,
    /// (predicted persons − true persons) / true persons; negative when people are merged.
    pub count_error: f64,
}

/// Scores `(true person, predicted person)` pairs, one per event.
pub fn bcubed<T, P>(pairs: impl IntoIterator<Item = (T, P)>) -> Scores
where
    T: Hash + Eq + Clone,
    P: Hash + Eq + Clone,
{
    let mut cell: HashMap<(T, P), f64> = HashMap::new();
    let mut truth: HashMap<T, f64> = HashMap::new();
    let mut predicted: HashMap<P, f64> = HashMap::new();
    let mut n = 0.0;
    for (t, p) in pairs {
        *cell.entry((t.clone(), p.clone())).or_default() += 1.0;
        *truth.entry(t).or_default() += 1.0;
        *predicted.entry(p).or_default() += 1.0;
        n += 1.0;
    }
    if n == 0.0 {
        return Scores {
            precision: 1.0,
            recall: 1.0,
            f1: 1.0,
            count_error: 0.0,
        };
    }
    let (mut precision, mut recall) = (0.0, 0.0);
    for ((t, p), count) in &cell {
        // Each of the `count` events in this cell scores count / |its cluster|.
        precision += count * count / predicted[p];
        recall += count * count / truth[t];
    }
    precision /= n;
    recall /= n;
    let f1 = 2.0 * precision * recall / (precision + recall);
    let true_count = truth.len() as f64;
    Scores {
        precision,
        recall,
        f1,
        count_error: (predicted.len() as f64 - true_count) / true_count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn a_perfect_clustering_scores_one_whatever_the_labels() {
        let s = bcubed([(1, "x"), (1, "x"), (2, "y"), (3, "z")]);
        assert_eq!(
            (s.precision, s.recall, s.f1, s.count_error),
            (1.0, 1.0, 1.0, 0.0)
        );
    }

    #[test]
    fn merging_two_people_costs_precision_only() {
        // Truth {a a} {b b}, predicted one cluster of 4: each event's precision is 2/4.
        let s = bcubed([(1, 0), (1, 0), (2, 0), (2, 0)]);
        assert!(close(s.precision, 0.5) && close(s.recall, 1.0));
        assert!(close(s.f1, 2.0 * 0.5 / 1.5));
        assert!(close(s.count_error, -0.5));
    }

    #[test]
    fn splitting_one_person_costs_recall_only() {
        // Truth {a a a}, predicted {a a} {a}: recall (2/3 + 2/3 + 1/3) / 3 = 5/9.
        let s = bcubed([(1, 0), (1, 0), (1, 1)]);
        assert!(close(s.precision, 1.0) && close(s.recall, 5.0 / 9.0));
        assert!(close(s.count_error, 1.0));
    }

    #[test]
    fn the_textbook_mixed_case() {
        // Truth A={1,2,3} B={4,5}; predicted X={1,2} Y={3,4,5}.
        // Precision: 1,1 for X; 1/3, 2/3, 2/3 for Y → (2 + 5/3) / 5 = 11/15.
        // Recall: 2/3, 2/3 (1,2); 1/3 (3); 1, 1 (4,5) → (11/3) / 5 = 11/15.
        let s = bcubed([('A', 'X'), ('A', 'X'), ('A', 'Y'), ('B', 'Y'), ('B', 'Y')]);
        assert!(close(s.precision, 11.0 / 15.0) && close(s.recall, 11.0 / 15.0));
        assert!(close(s.f1, 11.0 / 15.0) && close(s.count_error, 0.0));
    }
}
