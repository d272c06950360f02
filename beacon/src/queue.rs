//! The delivery queue: events not yet confirmed by the collector, oldest first.
//!
//! Each entry is one event's JSON object. The queue is mirrored to localStorage under
//! [`KEY`] as the objects one per line (when storage is allowed; see [`crate::privacy`]),
//! so a page that closes during an outage leaves its events for the next page load.
//! It is bounded by [`MAX_EVENTS`] and [`MAX_BYTES`]: when either is passed, the oldest
//! entries are dropped first. Batches taken from it stay under [`MAX_BODY`] bytes and
//! [`MAX_BATCH_EVENTS`] events, the collector's limits with some margin (it refuses
//! bodies over 64 KiB and batches over 100 events).
//!
//! Every tab of a site shares the one localStorage entry; each tab adopts what it finds
//! at load and writes back its own view of the queue, so two tabs failing at the same
//! time can overwrite each other's entries. That trade is accepted to keep the beacon
//! small; the common case (one tab, or an outage across a reload) is covered.

use crate::json;

/// localStorage key of the queue.
pub const KEY: &str = "spoor_queue";
/// Most events kept.
pub const MAX_EVENTS: usize = 200;
/// Most bytes kept (the sum of the entries' JSON).
pub const MAX_BYTES: usize = 256 * 1024;
/// Largest request body sent.
pub const MAX_BODY: usize = 60 * 1024;
/// Most events in one request.
pub const MAX_BATCH_EVENTS: usize = 100;
/// Room in a body for everything but the events: `{"site":…,"events":[]}` with a
/// 64-character site id, generously.
const ENVELOPE: usize = 96;

/// One queued event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The event id (its UUID), which acknowledgements name.
    pub id: String,
    /// The event as a JSON object, on one line.
    pub json: String,
}

impl Entry {
    /// An entry from a stored line; `None` unless it starts with the `id` field.
    pub fn parse(line: &str) -> Option<Self> {
        let id = line.strip_prefix(r#"{"id":""#)?.get(..36)?;
        (line.ends_with('}') && crate::id::is_valid(id)).then(|| Self {
            id: id.into(),
            json: line.into(),
        })
    }
}

/// The queue, oldest entry first.
#[derive(Debug, Default)]
pub struct Queue {
    entries: Vec<Entry>,
}

impl Queue {
    /// The queue stored as `stored` (see [`Queue::encode`]); unreadable lines are skipped.
    pub fn parse(stored: &str) -> Self {
        let mut queue = Self::default();
        let mut rest = stored;
        while !rest.is_empty() {
            let (line, next) = crate::id::split_once_byte(rest, b'\n').unwrap_or((rest, ""));
            if let Some(entry) = Entry::parse(line) {
                queue.push(entry);
            }
            rest = next;
        }
        queue
    }

    /// The stored form: one JSON object per line.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.bytes() + self.entries.len());
        for entry in &self.entries {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&entry.json);
        }
        out
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of JSON queued.
    pub fn bytes(&self) -> usize {
        self.entries.iter().map(|e| e.json.len()).sum()
    }

    /// Appends an entry, then drops the oldest ones while a cap is passed. An entry
    /// that could never fit in a request, or one already queued, is not added.
    pub fn push(&mut self, entry: Entry) {
        if entry.json.len() > MAX_BODY - ENVELOPE || self.entries.iter().any(|e| e.id == entry.id) {
            return;
        }
        self.entries.push(entry);
        let (mut count, mut bytes) = (self.entries.len(), self.bytes());
        // `retain` rather than `remove(0)`, whose bounds check brings a formatted panic.
        self.entries.retain(|e| {
            let drop = count > MAX_EVENTS || bytes > MAX_BYTES;
            if drop {
                count -= 1;
                bytes -= e.json.len();
            }
            !drop
        });
    }

    /// Removes the entries whose ids are in `ids`.
    pub fn remove(&mut self, ids: &[String]) {
        self.entries.retain(|e| !ids.contains(&e.id));
    }

    /// The batch of entries starting at `from`: as many as fit under the limits, at least
    /// one. Returns the request body and the index after the batch; `None` past the end.
    pub fn batch(&self, site: &str, from: usize) -> Option<(String, usize)> {
        let rest = self.entries.get(from..).filter(|r| !r.is_empty())?;
        let mut body = String::with_capacity(MAX_BODY.min(self.bytes() + ENVELOPE));
        body.push_str(r#"{"site":"#);
        json::push_string(&mut body, site);
        body.push_str(r#","events":["#);
        let mut end = from;
        for entry in rest.iter().take(MAX_BATCH_EVENTS) {
            if end > from && body.len() + entry.json.len() + 3 > MAX_BODY {
                break;
            }
            if end > from {
                body.push(',');
            }
            body.push_str(&entry.json);
            end += 1;
        }
        body.push_str("]}");
        Some((body, end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn entry(n: usize, pad: usize) -> Entry {
        let mut id = String::from("00000000-0000-4000-8000-");
        let digits = n.to_string();
        id.push_str(&"0".repeat(12 - digits.len()));
        id.push_str(&digits);
        let json = [r#"{"id":""#, &id, r#"","pad":""#, &"x".repeat(pad), r#""}"#].concat();
        Entry { id, json }
    }

    #[test]
    fn entries_round_trip_through_storage() {
        let mut queue = Queue::default();
        queue.push(entry(1, 3));
        queue.push(entry(2, 0));
        let stored = queue.encode();
        assert_eq!(stored.lines().count(), 2);
        let again = Queue::parse(&[&stored, "\ngarbage\n{\"id\":\"short\"}"].concat());
        assert_eq!(again.entries(), queue.entries());
    }

    #[test]
    fn duplicates_are_not_queued_twice() {
        let mut queue = Queue::default();
        queue.push(entry(1, 0));
        queue.push(entry(1, 0));
        assert_eq!(queue.entries().len(), 1);
    }

    #[test]
    fn the_oldest_are_dropped_past_the_event_cap() {
        let mut queue = Queue::default();
        for n in 0..MAX_EVENTS + 5 {
            queue.push(entry(n, 0));
        }
        assert_eq!(queue.entries().len(), MAX_EVENTS);
        assert_eq!(queue.entries()[0], entry(5, 0));
    }

    #[test]
    fn the_oldest_are_dropped_past_the_byte_cap() {
        let mut queue = Queue::default();
        for n in 0..10 {
            queue.push(entry(n, 40 * 1024));
        }
        assert!(queue.bytes() <= MAX_BYTES);
        assert_eq!(queue.entries().last(), Some(&entry(9, 40 * 1024)));
        assert_eq!(queue.entries()[0], entry(4, 40 * 1024));
    }

    #[test]
    fn an_entry_too_large_to_send_is_not_queued() {
        let mut queue = Queue::default();
        queue.push(entry(1, MAX_BODY));
        assert!(queue.is_empty());
    }

    #[test]
    fn batches_split_under_the_body_and_count_limits() {
        let mut queue = Queue::default();
        for n in 0..150 {
            queue.push(entry(n, 1000));
        }
        let mut from = 0;
        let mut seen = 0;
        while let Some((body, next)) = queue.batch("demo", from) {
            assert!(body.len() <= MAX_BODY, "{}", body.len());
            let parsed: Value = serde_json::from_str(&body).unwrap();
            let events = parsed["events"].as_array().unwrap().len();
            assert!(events <= MAX_BATCH_EVENTS && events == next - from);
            assert_eq!(parsed["site"], "demo");
            seen += events;
            from = next;
        }
        assert_eq!(seen, 150);
        assert!(
            queue.batch("demo", 0).unwrap().1 < 100,
            "60 KiB splits first"
        );
    }

    #[test]
    fn acknowledged_entries_are_removed() {
        let mut queue = Queue::default();
        for n in 0..3 {
            queue.push(entry(n, 0));
        }
        queue.remove(&[entry(0, 0).id, entry(2, 0).id]);
        assert_eq!(queue.entries(), [entry(1, 0)]);
    }
}
