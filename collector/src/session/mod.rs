//! Server-side sessions: which visit of a visitor each event belongs to, decided by a pure
//! function ([`assign`]) over the visitor's latest session and the new event, so the rules
//! are tested without a database. The store runs it inside the insert transaction.
//!
//! # Rules
//! A new event starts a new session when
//! - the visitor has no session yet;
//! - it comes `idle_timeout` (default 30 minutes) or more after the session's last event
//!   (a gap of exactly 30 minutes cuts);
//! - its local day, in the site's time zone ([`SiteZone`]: an IANA zone, which follows
//!   daylight-saving time, or a fixed offset), is not the session's day (sessions end at
//!   local midnight);
//! - it carries a campaign — any of `utm_source`, `utm_medium`, `utm_campaign` — that is
//!   not the session's campaign (all three compared). An event without campaign tags
//!   continues the session, whatever its campaign.
//!
//! Otherwise it continues the session: the last time, exit page, counts, duration and
//! bounce flag are brought up to date.
//!
//! **Out of order.** An event older than the session's last event (a retried beacon, a
//! batch sent late) never moves the exit page or the last time backwards. It joins the
//! session when it falls on the session's day and no more than `idle_timeout` before its
//! start (it becomes the entry page when it is older than the start); campaign tags on
//! a late event are not compared. A late event that fits nowhere gets a session of its
//! own, which ends before the visitor's latest one, so the latest one stays current.
//!
//! **Bounce.** A session bounced when it has exactly one page view and no sign of
//! interaction: no engagement event with at least [`ENGAGED_VISIBLE_MS`] (10 s) of visible
//! time, and no custom, outbound or download event. A session without page views (only,
//! say, a late engagement) is not a bounce. Identify events are not interaction.
//!
//! **Duration** is the last event's time minus the first's, in milliseconds.

mod offset;
mod zone;

use std::time::Duration;

use uuid::Uuid;

pub use offset::UtcOffset;
pub use zone::SiteZone;

use crate::event::EventKind;

/// Visible time, in milliseconds, from which an engagement means the visit did not bounce.
pub const ENGAGED_VISIBLE_MS: u32 = 10_000;

/// How sessions are cut.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRules {
    /// Inactivity after which the next event starts a new session (default 30 minutes).
    pub idle_timeout: Duration,
    /// The site's time zone; a session ends at its midnight (default UTC).
    pub zone: SiteZone,
}

impl Default for SessionRules {
    fn default() -> Self {
        SessionRules {
            idle_timeout: Duration::from_secs(30 * 60),
            zone: SiteZone::default(),
        }
    }
}

impl SessionRules {
    fn idle_ms(&self) -> i64 {
        i64::try_from(self.idle_timeout.as_millis()).unwrap_or(i64::MAX)
    }
}

/// The campaign a session came from: `utm_source`, `utm_medium`, `utm_campaign`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Campaign {
    /// `utm_source`.
    pub source: Option<String>,
    /// `utm_medium`.
    pub medium: Option<String>,
    /// `utm_campaign`.
    pub campaign: Option<String>,
}

impl Campaign {
    /// Whether any of the three tags is present.
    pub fn is_present(&self) -> bool {
        self.source.is_some() || self.medium.is_some() || self.campaign.is_some()
    }
}

/// One visit, as stored in the `sessions` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Server-generated id (UUID v7: the time it was made, then random bits).
    pub id: Uuid,
    /// Time of the earliest event, Unix ms.
    pub start_ts: i64,
    /// Time of the latest event, Unix ms.
    pub last_ts: i64,
    /// Path of the earliest event.
    pub entry_path: String,
    /// Path of the latest event.
    pub exit_path: String,
    /// Page views in the session.
    pub pageviews: u32,
    /// Events of every kind in the session.
    pub events: u32,
    /// Whether an event showed interaction (see the module docs, "Bounce").
    pub engaged: bool,
    /// The campaign of the event that started the session (all `None` for none).
    pub campaign: Campaign,
    /// The local day of the session in the site's time zone ([`UtcOffset::day_of`]).
    pub day: i64,
}

impl Session {
    /// `last_ts - start_ts`, in milliseconds.
    pub fn duration_ms(&self) -> i64 {
        self.last_ts - self.start_ts
    }

    /// Exactly one page view and no interaction.
    pub fn bounce(&self) -> bool {
        self.pageviews == 1 && !self.engaged
    }
}

/// What the sessionizer needs to know about an event.
#[derive(Debug, Clone, Copy)]
pub struct Hit<'a> {
    /// Event time, Unix ms.
    pub ts: i64,
    /// The event's kind and data.
    pub kind: &'a EventKind,
    /// The page's path.
    pub path: &'a str,
    /// The event's campaign tags.
    pub campaign: &'a Campaign,
}

impl Hit<'_> {
    fn is_pageview(&self) -> bool {
        matches!(self.kind, EventKind::Pageview)
    }

    fn shows_interaction(&self) -> bool {
        match self.kind {
            EventKind::Engagement(e) => e.visible_ms >= ENGAGED_VISIBLE_MS,
            EventKind::Custom(_) | EventKind::Outbound { .. } | EventKind::Download { .. } => true,
            EventKind::Pageview | EventKind::Identify { .. } => false,
        }
    }
}

/// Where an event goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    /// It joins the current session, whose updated state this is.
    Continue(Session),
    /// It starts this new session. The new session is the visitor's latest unless it ends
    /// before the current one (a late event that fit nowhere).
    Start(Session),
}

impl Assignment {
    /// The session the event belongs to, after the event.
    pub fn session(&self) -> &Session {
        match self {
            Assignment::Continue(s) | Assignment::Start(s) => s,
        }
    }
}

/// Decides where `hit` goes, given the visitor's latest session `current`; `new_id` is
/// called only when a session is started. See the module docs for the rules.
pub fn assign(
    rules: &SessionRules,
    current: Option<&Session>,
    hit: &Hit<'_>,
    new_id: impl FnOnce() -> Uuid,
) -> Assignment {
    let day = rules.zone.day_of(hit.ts);
    let Some(current) = current else {
        return Assignment::Start(start(hit, day, new_id()));
    };
    let idle = rules.idle_ms();
    let joins = if hit.ts >= current.last_ts {
        hit.ts - current.last_ts < idle
            && day == current.day
            && (!hit.campaign.is_present() || *hit.campaign == current.campaign)
    } else {
        day == current.day && hit.ts > current.start_ts.saturating_sub(idle)
    };
    if !joins {
        return Assignment::Start(start(hit, day, new_id()));
    }
    let mut s = current.clone();
    if hit.ts >= s.last_ts {
        s.last_ts = hit.ts;
        s.exit_path = hit.path.to_string();
    }
    if hit.ts < s.start_ts {
        s.start_ts = hit.ts;
        s.entry_path = hit.path.to_string();
    }
    s.pageviews += u32::from(hit.is_pageview());
    s.events += 1;
    s.engaged |= hit.shows_interaction();
    Assignment::Continue(s)
}

fn start(hit: &Hit<'_>, day: i64, id: Uuid) -> Session {
    Session {
        id,
        start_ts: hit.ts,
        last_ts: hit.ts,
        entry_path: hit.path.to_string(),
        exit_path: hit.path.to_string(),
        pageviews: u32::from(hit.is_pageview()),
        events: 1,
        engaged: hit.shows_interaction(),
        campaign: hit.campaign.clone(),
        day,
    }
}

#[cfg(test)]
mod tests;
