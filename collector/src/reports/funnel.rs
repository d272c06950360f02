//! Funnels: ordered steps (a page view of a path, or a custom event by name), a time
//! window, and per step who reached it — in order, each step after the previous one and
//! within the window from their first step — its conversion from the previous step and
//! the drop-off.

use serde::{Deserialize, Serialize};

use super::FunnelHit;

/// Fewest steps a funnel has.
pub const MIN_STEPS: usize = 2;
/// Most steps a funnel has.
pub const MAX_STEPS: usize = 10;
/// Default window, ms (one day).
pub const DEFAULT_WINDOW_MS: i64 = 86_400_000;
/// Longest window, ms (90 days).
pub const MAX_WINDOW_MS: i64 = 90 * 86_400_000;
/// Longest step value (path or event name), in bytes.
pub const MAX_STEP_LEN: usize = 512;

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Step {
    /// A page view of this path.
    Page(String),
    /// A custom event of this name.
    Event(String),
}

impl Step {
    /// Parses `page:PATH` or `event:NAME`.
    pub fn parse(s: &str) -> Result<Step, String> {
        let bad = || {
            format!(
                "steps: {:?} is neither page:PATH nor event:NAME",
                s.chars().take(60).collect::<String>()
            )
        };
        let (kind, value) = s.split_once(':').ok_or_else(bad)?;
        if value.is_empty() || value.len() > MAX_STEP_LEN {
            return Err(bad());
        }
        match kind {
            "page" => Ok(Step::Page(value.to_string())),
            "event" => Ok(Step::Event(value.to_string())),
            _ => Err(bad()),
        }
    }

    /// The step as written (`page:/x`).
    pub fn to_text(&self) -> String {
        match self {
            Step::Page(p) => format!("page:{p}"),
            Step::Event(e) => format!("event:{e}"),
        }
    }
}

/// Validates a list of steps and a window.
pub fn validate(steps: &[String], window_ms: Option<i64>) -> Result<(Vec<Step>, i64), String> {
    if steps.len() < MIN_STEPS || steps.len() > MAX_STEPS {
        return Err(format!(
            "steps: a funnel has {MIN_STEPS} to {MAX_STEPS} steps, not {}",
            steps.len()
        ));
    }
    let steps = steps
        .iter()
        .map(|s| Step::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    let window = window_ms.unwrap_or(DEFAULT_WINDOW_MS);
    if !(1..=MAX_WINDOW_MS).contains(&window) {
        return Err(format!("window_ms: must be 1 to {MAX_WINDOW_MS}"));
    }
    Ok((steps, window))
}

/// A funnel as saved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunnelDef {
    /// Its name, unique per site.
    pub name: String,
    /// Steps as written (`page:/`, `event:signup`).
    pub steps: Vec<String>,
    /// The window, ms.
    pub window_ms: i64,
}

/// One step of the answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepResult {
    /// The step as written.
    pub step: String,
    /// Persons (or visitors) who reached it.
    pub persons: u64,
    /// Over the previous step (1.0 for the first; 0 when the previous had none).
    pub conversion: f64,
    /// Lost since the previous step.
    pub dropoff: u64,
}

/// Who reached each step: for each one, the earliest first step in `[start_ms, end_ms)`
/// from which they complete the most steps in order within `window_ms`. The hits are
/// grouped by sorting them, each packed into one integer (person, time, step): no
/// allocation per person, and a month's funnel has a million of them.
pub fn evaluate(
    steps: &[Step],
    hits: Vec<FunnelHit>,
    start_ms: i64,
    end_ms: i64,
    window_ms: i64,
) -> Vec<StepResult> {
    let base = hits.iter().map(|h| h.ts).min().unwrap_or(0);
    // Time from `base` in the middle 56 bits (2^56 ms is two million years), the step
    // (at most MAX_STEPS) in the low 8.
    let mut packed: Vec<u128> = hits
        .iter()
        .map(|h| {
            let t = u128::from(h.ts.abs_diff(base));
            (u128::from(h.who) << 64) | (t << 8) | (h.step as u128 & 0xff)
        })
        .collect();
    drop(hits);
    packed.sort_unstable();
    let ts = |k: u128| base.saturating_add_unsigned((k as u64) >> 8);
    let step = |k: u128| (k & 0xff) as usize;
    let mut reached = vec![0u64; steps.len()];
    for hits in packed.chunk_by(|a, b| a >> 64 == b >> 64) {
        let mut best = 0;
        for (i, &first) in hits.iter().enumerate() {
            let t0 = ts(first);
            if step(first) != 0 || t0 < start_ms || t0 >= end_ms {
                continue;
            }
            let mut next = 1;
            for &h in &hits[i + 1..] {
                if ts(h) - t0 > window_ms || next == steps.len() {
                    break;
                }
                if step(h) == next {
                    next += 1;
                }
            }
            best = best.max(next);
            if best == steps.len() {
                break;
            }
        }
        for r in reached.iter_mut().take(best) {
            *r += 1;
        }
    }
    steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let prev = if i == 0 { reached[0] } else { reached[i - 1] };
            StepResult {
                step: step.to_text(),
                persons: reached[i],
                conversion: if i == 0 {
                    1.0
                } else if prev == 0 {
                    0.0
                } else {
                    reached[i] as f64 / prev as f64
                },
                dropoff: prev - reached[i],
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(who: &str, ts: i64, step: usize) -> FunnelHit {
        FunnelHit {
            who: u64::from(who.as_bytes()[0]),
            ts,
            step,
        }
    }

    #[test]
    fn steps_parse_and_bad_ones_say_why() {
        assert_eq!(Step::parse("page:/a"), Ok(Step::Page("/a".into())));
        assert_eq!(
            Step::parse("event:sign:up"),
            Ok(Step::Event("sign:up".into()))
        );
        assert!(Step::parse("click:/a").is_err());
        assert!(Step::parse("page:").is_err());
        assert!(validate(&["page:/".into()], None).is_err());
        assert!(validate(&["page:/".into(), "page:/b".into()], Some(0)).is_err());
        assert_eq!(
            validate(&["page:/".into(), "event:x".into()], None).map(|(_, w)| w),
            Ok(DEFAULT_WINDOW_MS)
        );
    }

    #[test]
    fn order_and_window_decide_who_converts() {
        let steps = [
            Step::Page("/".into()),
            Step::Page("/p".into()),
            Step::Event("buy".into()),
        ];
        let hits = [
            // a: all three in order within the window.
            hit("a", 10, 0),
            hit("a", 20, 1),
            hit("a", 30, 2),
            // b: step 2 before step 1 does not count; reaches step 1 only.
            hit("b", 10, 0),
            hit("b", 5, 1),
            hit("b", 20, 2),
            // c: second step too late (window 100).
            hit("c", 10, 0),
            hit("c", 200, 1),
            // d: a later first step starts an attempt that completes.
            hit("d", 10, 0),
            hit("d", 300, 0),
            hit("d", 320, 1),
            // e: first step outside the range does not count at all.
            hit("e", 5000, 0),
            hit("e", 5001, 1),
        ];
        let r = evaluate(&steps, hits.to_vec(), 0, 1000, 100);
        let persons: Vec<u64> = r.iter().map(|s| s.persons).collect();
        assert_eq!(persons, [4, 2, 1]);
        assert_eq!((r[1].conversion, r[1].dropoff), (0.5, 2));
        assert_eq!((r[2].conversion, r[2].dropoff), (0.5, 1));
        assert_eq!((r[0].step.as_str(), r[0].conversion), ("page:/", 1.0));
    }
}
