//! The routing key of a job, known before its identity is resolved: the site and the
//! beacon's client id when the batch carries one, else the visitor its server cookie
//! names, else its network fingerprint (`fp_…`, computed by `ingest::submit` from the
//! address and `User-Agent` under the day's salt); for resolved events, the site and
//! their visitor. A client id, a cookie's visitor and a fingerprint visitor are the same
//! kind of string in the store, so a browser keeps its key when its cookie names the
//! client id it sent before, and a cookieless browser's tracked and untracked batches
//! share theirs.

use crate::event::Event;
use crate::ingest::BrowserBatch;

/// The key of a browser batch.
pub fn of_browser(batch: &BrowserBatch) -> String {
    let id = batch
        .events
        .iter()
        .find_map(|e| e.client_id.as_deref())
        .or(batch.cookie.as_deref())
        .unwrap_or(&batch.fingerprint);
    of(&batch.site, id)
}

/// The key of a resolved event.
pub fn of_event(event: &Event) -> String {
    of(&event.site, &event.visitor)
}

fn of(site: &str, visitor: &str) -> String {
    format!("{site}\n{visitor}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::resolver::Options;

    fn batch(client_id: Option<&str>, cookie: Option<&str>) -> BrowserBatch {
        let mut event = crate::store::sqlite::tests::event(1, "v", "s").client;
        event.client_id = client_id.map(str::to_string);
        let mut plain = event.clone();
        plain.client_id = None;
        BrowserBatch {
            site: "demo".into(),
            // The id may come on a later event of the batch.
            events: vec![plain, event],
            received: 0,
            cookie: cookie.map(str::to_string),
            vouched: true,
            fingerprint: "fp_1".into(),
            yesterday: "fp_0".into(),
            options: Options::default(),
        }
    }

    #[test]
    fn the_client_id_wins_then_the_cookie_then_the_fingerprint() {
        assert_eq!(of_browser(&batch(Some("c"), Some("k"))), "demo\nc");
        assert_eq!(of_browser(&batch(None, Some("k"))), "demo\nk");
        assert_eq!(of_browser(&batch(None, None)), "demo\nfp_1");
        let mut event = crate::store::sqlite::tests::event(1, "fp_1", "s");
        event.site = "demo".into();
        assert_eq!(of_event(&event), of_browser(&batch(None, None)));
    }
}
