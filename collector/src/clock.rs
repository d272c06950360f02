//! Time as the collector records it: Unix milliseconds, from the wall clock or from a
//! [`Clock`] a test or the accuracy simulator drives.
//!
//! `/collect` reads the time through [`AppState::clock`](crate::state::AppState::clock) for
//! the `received` stamp, the bounds of accepted client timestamps and the day of the
//! fingerprint salt, so a simulation can replay a month of traffic in seconds.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in Unix milliseconds (0 if the system clock is before 1970).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A source of "now"; cheap to clone. The default is the wall clock.
#[derive(Clone)]
pub struct Clock {
    source: Source,
}

#[derive(Clone)]
enum Source {
    Wall,
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// The system's wall clock.
    pub fn wall() -> Clock {
        Clock {
            source: Source::Wall,
        }
    }

    /// A clock that reads `at` until someone [`set`](Clock::set)s it (a clone shares the
    /// same time, so the simulator keeps one and hands another to the collector).
    pub fn manual(at: i64) -> Clock {
        Clock {
            source: Source::Manual(Arc::new(AtomicI64::new(at))),
        }
    }

    /// Now, in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        match &self.source {
            Source::Wall => now_ms(),
            Source::Manual(at) => at.load(Ordering::Relaxed),
        }
    }

    /// Moves a manual clock to `at`; a wall clock ignores it.
    pub fn set(&self, at: i64) {
        if let Source::Manual(now) = &self.source {
            now.store(at, Ordering::Relaxed);
        }
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::wall()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::Wall => f.write_str("Clock::Wall"),
            Source::Manual(at) => write!(f, "Clock::Manual({})", at.load(Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_is_shared_by_its_clones_and_the_wall_clock_moves_on() {
        let clock = Clock::manual(1_000);
        let handed_out = clock.clone();
        assert_eq!(handed_out.now_ms(), 1_000);
        clock.set(2_000);
        assert_eq!(handed_out.now_ms(), 2_000);
        let wall = Clock::default();
        wall.set(5);
        assert!(
            wall.now_ms() > 1_577_836_800_000,
            "wall time, not the value set"
        );
    }
}
