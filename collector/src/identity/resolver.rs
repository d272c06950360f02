//! The full resolution rule of issue #4, as a pure function: from the signals one event
//! carries and what the store remembers about them, to a visitor, the evidence that chose
//! it, the server cookie to set, and the links to record between visitor ids.
//!
//! Order of evidence:
//! 1. a `reset` (logout on a shared device) starts a new visitor from the beacon's new id and
//!    links it to nothing — not even by network;
//! 2. a valid signed server cookie names the visitor; a different client id from the same
//!    browser is linked to it (`client-id`). When the cookie and the client id agree, the
//!    evidence reported is `client-id` (the beacon's id is the visitor). A provisional (`fp_…`) cookie yields to a
//!    real client id instead, since the real id outlives the daily fingerprint;
//! 3. the beacon's client id. A client id never seen before, arriving without a server
//!    cookie where exactly one visitor was seen behind the same fingerprint today, and
//!    within the last [`RECOVERY_WINDOW_MS`], is probably that visitor after a cookie wipe:
//!    a low-confidence `recovery` link (off in strict mode). The window keeps a stranger's
//!    first visit hours later behind a shared address (carrier-grade NAT) from being
//!    taken for a wipe;
//! 4. no id at all: the provisional fingerprint visitor, linked (`fingerprint`) to the one
//!    id visitor seen behind that fingerprint today — only while there is exactly one. With
//!    two or more (NAT, an office, carrier-grade NAT), nothing is attached to anyone, and
//!    earlier fingerprint links of that fingerprint are to be withdrawn.
//!
//! The NAT guard also looks one day back: when the same network and user agent was shared
//! by two or more id visitors yesterday ([`Memory::shared_yesterday`], read through
//! yesterday's salt while it still exists), it is a shared address, and neither recovery
//! nor a fingerprint link is made today even while only one visitor has shown up so far —
//! the first person of the morning behind a carrier-grade NAT is not everyone's anchor.
//!
//! The cookie guard: a client that keeps its server cookie but sends a new client id with
//! every event would otherwise add a `client-id` link per event and grow one person
//! without bound. Once [`Options::max_ids_per_cookie`] ids have been linked to the cookie's
//! visitor on one UTC day ([`Memory::cookie_ids_today`]), a further new id is not linked:
//! the event is still counted, for the cookie's visitor as always, and the outcome says
//! the link was capped (`/metrics` counts it). An honest browser changes its client id
//! rarely (storage cleared, a private window sharing the cookie jar), far below the cap.
//!
//! `identify(user)` adds a `login` link between the visitor and the user's node, which joins
//! every device the user logged in on into one person (see [`super::graph`]).
//!
//! The ingest writer ([`ingest::resolve`](crate::ingest::resolve)) builds the [`Signals`]
//! from what `/collect` saw of the request, reads the [`Memory`] (cached, see
//! `ingest::identity_memory`) and writes the
//! [`Outcome`]'s links and flags with the event.

use super::Evidence;
use super::fingerprint::PREFIX;
use super::graph::LinkKind;

/// Prefix of the graph node that stands for a logged-in user.
pub const USER_PREFIX: &str = "user:";

/// What one event says about who sent it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Signals<'a> {
    /// The visitor named by a valid signed server cookie.
    pub server_cookie: Option<&'a str>,
    /// The beacon's own visitor id.
    pub client_id: Option<&'a str>,
    /// The site's user id, on an `identify` event.
    pub user: Option<&'a str>,
    /// The event is the beacon's `reset()` after a logout.
    pub reset: bool,
    /// Today's provisional visitor id for this network and user agent (`fp_…`).
    pub fingerprint: &'a str,
    /// The collector's time now, Unix ms.
    pub now_ms: i64,
}

/// What the store remembers that bears on this event.
#[derive(Debug, Clone, Default)]
pub struct Memory {
    /// The client id has been seen before.
    pub client_id_known: bool,
    /// Distinct id-carrying visitors seen behind this fingerprint today; a store may
    /// stop at two (the rule only tells none, one and more apart).
    pub behind_fingerprint: Vec<String>,
    /// When an id visitor was last seen behind this fingerprint (the latest of those
    /// listed), collector time in Unix ms.
    pub last_seen_ms: Option<i64>,
    /// The same network and user agent was behind two or more id visitors yesterday.
    pub shared_yesterday: bool,
    /// Client ids already linked (`client-id`) to the visitor the server cookie names, on
    /// the current UTC day: a stored counter, plus those linked earlier in the same batch.
    pub cookie_ids_today: u32,
}

/// How recently the one visitor behind a fingerprint must have been seen for a new client
/// id there to count as that visitor after a cookie wipe (30 minutes).
pub const RECOVERY_WINDOW_MS: i64 = 30 * 60 * 1000;

/// Tuning of the rule.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Link a new client id to the single recent visitor behind its fingerprint.
    pub recovery: bool,
    /// Most client ids linked to one server cookie's visitor a day; beyond it, ids are
    /// not linked.
    pub max_ids_per_cookie: u32,
}

/// Default of [`Options::max_ids_per_cookie`].
pub const MAX_IDS_PER_COOKIE: u32 = 10;

impl Default for Options {
    fn default() -> Self {
        Options {
            recovery: true,
            max_ids_per_cookie: MAX_IDS_PER_COOKIE,
        }
    }
}

/// A link the store should record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLink {
    /// One visitor id (or `user:` node).
    pub a: String,
    /// The other.
    pub b: String,
    /// The evidence.
    pub kind: LinkKind,
    /// How sure, 0 to 1.
    pub confidence: f32,
    /// The collector itself established it, so an export or erasure by user id may
    /// follow it: a login the site signed, or a link made under the collector's own
    /// server cookie to a client id no one had used before. `resolve` never sets it; the
    /// handler does, knowing the signature and the request's cookie.
    pub verified: bool,
}

/// What to do with the event.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The visitor the event is counted for.
    pub visitor: String,
    /// Which evidence chose it.
    pub evidence: Evidence,
    /// The visitor the server cookie should name from now on.
    pub cookie: String,
    /// Links to record.
    pub links: Vec<NewLink>,
    /// Remember that this id visitor was seen behind the fingerprint today.
    pub observe_fingerprint: bool,
    /// The fingerprint just became ambiguous: withdraw its earlier fingerprint links.
    pub withdraw_fingerprint_links: bool,
    /// A `client-id` link to the cookie's visitor was not made: the cookie had reached
    /// [`Options::max_ids_per_cookie`] today.
    pub link_capped: bool,
}

fn link(a: &str, b: &str, kind: LinkKind, confidence: f32) -> NewLink {
    NewLink {
        a: a.to_string(),
        b: b.to_string(),
        kind,
        confidence,
        verified: false,
    }
}

/// Applies the rule; see the module docs.
pub fn resolve(signals: &Signals<'_>, memory: &Memory, options: Options) -> Outcome {
    let fp = signals.fingerprint;
    let mut links = Vec::new();
    let mut link_capped = false;
    let (visitor, evidence) = match (signals.reset, signals.server_cookie, signals.client_id) {
        (true, _, Some(id)) => (id.to_string(), Evidence::ClientId),
        (true, _, None) => (fp.to_string(), Evidence::Fingerprint),
        (false, Some(cookie), Some(id)) if cookie.starts_with(PREFIX) && cookie != id => {
            links.push(link(id, cookie, LinkKind::ServerCookie, 0.9));
            (id.to_string(), Evidence::ClientId)
        }
        (false, Some(cookie), client) => match client {
            // Both ids agree: the beacon's own id is the evidence reported.
            Some(id) if id == cookie => (cookie.to_string(), Evidence::ClientId),
            Some(id) => {
                if memory.cookie_ids_today < options.max_ids_per_cookie {
                    links.push(link(id, cookie, LinkKind::ClientId, 0.95));
                } else {
                    link_capped = true;
                }
                (cookie.to_string(), Evidence::ServerCookie)
            }
            None => (cookie.to_string(), Evidence::ServerCookie),
        },
        (false, None, Some(id)) => {
            let recent = memory
                .last_seen_ms
                .is_some_and(|t| signals.now_ms.saturating_sub(t) <= RECOVERY_WINDOW_MS);
            if options.recovery && !memory.client_id_known && recent && !memory.shared_yesterday {
                if let [only] = memory.behind_fingerprint.as_slice() {
                    if only != id {
                        links.push(link(id, only, LinkKind::Recovery, 0.5));
                    }
                }
            }
            (id.to_string(), Evidence::ClientId)
        }
        (false, None, None) => {
            if let (false, [only]) = (
                memory.shared_yesterday,
                memory.behind_fingerprint.as_slice(),
            ) {
                links.push(link(fp, only, LinkKind::Fingerprint, 0.6));
            }
            (fp.to_string(), Evidence::Fingerprint)
        }
    };
    if let Some(user) = signals.user {
        let mut node = String::with_capacity(USER_PREFIX.len() + user.len());
        node.push_str(USER_PREFIX);
        node.push_str(user);
        links.push(link(&visitor, &node, LinkKind::Login, 1.0));
    }
    let is_id_visitor = !visitor.starts_with(PREFIX);
    let newly_ambiguous = is_id_visitor
        && !signals.reset
        && memory.behind_fingerprint.len() == 1
        && !memory.behind_fingerprint.contains(&visitor);
    Outcome {
        cookie: visitor.clone(),
        visitor,
        evidence,
        links,
        // A reset visitor is kept out of the fingerprint's memory, so the next person on
        // the shared device is never joined to the last one by network.
        observe_fingerprint: is_id_visitor && !signals.reset,
        withdraw_fingerprint_links: newly_ambiguous,
        link_capped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "fp_00112233445566778899aabbccddeeff";

    fn memory(known: bool, behind: &[&str]) -> Memory {
        Memory {
            client_id_known: known,
            behind_fingerprint: behind.iter().map(|s| s.to_string()).collect(),
            last_seen_ms: (!behind.is_empty()).then_some(0),
            shared_yesterday: false,
            cookie_ids_today: 0,
        }
    }

    fn signals<'a>(cookie: Option<&'a str>, client: Option<&'a str>) -> Signals<'a> {
        Signals {
            server_cookie: cookie,
            client_id: client,
            fingerprint: FP,
            ..Signals::default()
        }
    }

    fn kinds(o: &Outcome) -> Vec<LinkKind> {
        o.links.iter().map(|l| l.kind).collect()
    }

    #[test]
    fn the_server_cookie_wins_and_a_different_client_id_is_linked() {
        let o = resolve(
            &signals(Some("a"), Some("b")),
            &memory(true, &[]),
            Options::default(),
        );
        assert_eq!(
            (o.visitor.as_str(), o.evidence),
            ("a", Evidence::ServerCookie)
        );
        assert_eq!(o.links, [link("b", "a", LinkKind::ClientId, 0.95)]);
        let same = resolve(
            &signals(Some("a"), Some("a")),
            &memory(true, &[]),
            Options::default(),
        );
        assert!(same.links.is_empty());
        assert_eq!(same.evidence, Evidence::ClientId, "agreeing ids: client-id");
    }

    #[test]
    fn a_provisional_cookie_yields_to_a_real_client_id() {
        let o = resolve(
            &signals(Some(FP), Some("c")),
            &memory(false, &[]),
            Options::default(),
        );
        assert_eq!((o.visitor.as_str(), o.cookie.as_str()), ("c", "c"));
        assert_eq!(kinds(&o), [LinkKind::ServerCookie]);
    }

    #[test]
    fn no_recovery_when_the_visitor_behind_the_fingerprint_was_seen_long_ago() {
        let s = Signals {
            now_ms: RECOVERY_WINDOW_MS + 1,
            ..signals(None, Some("new"))
        };
        let o = resolve(&s, &memory(false, &["old"]), Options::default());
        assert!(o.links.is_empty(), "{:?}", o.links);
        let s = Signals {
            now_ms: RECOVERY_WINDOW_MS,
            ..signals(None, Some("new"))
        };
        assert_eq!(
            kinds(&resolve(&s, &memory(false, &["old"]), Options::default())),
            [LinkKind::Recovery]
        );
    }

    #[test]
    fn a_new_client_id_behind_one_known_visitor_is_a_recovery_unless_strict() {
        let m = memory(false, &["old"]);
        let o = resolve(&signals(None, Some("new")), &m, Options::default());
        assert_eq!(o.links, [link("new", "old", LinkKind::Recovery, 0.5)]);
        let strict = resolve(
            &signals(None, Some("new")),
            &m,
            Options {
                recovery: false,
                ..Options::default()
            },
        );
        assert!(strict.links.is_empty());
        let known = resolve(
            &signals(None, Some("new")),
            &memory(true, &["old"]),
            Options::default(),
        );
        assert!(known.links.is_empty(), "a known id is not a lost cookie");
        let crowd = resolve(
            &signals(None, Some("new")),
            &memory(false, &["x", "y"]),
            Options::default(),
        );
        assert!(crowd.links.is_empty(), "ambiguous fingerprint");
    }

    #[test]
    fn cookieless_hits_attach_only_while_the_fingerprint_is_unambiguous() {
        let one = resolve(
            &signals(None, None),
            &memory(false, &["a"]),
            Options::default(),
        );
        assert_eq!(
            (one.visitor.as_str(), one.evidence),
            (FP, Evidence::Fingerprint)
        );
        assert_eq!(one.links, [link(FP, "a", LinkKind::Fingerprint, 0.6)]);
        assert!(
            !one.observe_fingerprint,
            "a provisional visitor is not remembered as an id"
        );
        let nat = resolve(
            &signals(None, None),
            &memory(false, &["a", "b"]),
            Options::default(),
        );
        assert!(nat.links.is_empty());
    }

    #[test]
    fn an_address_shared_yesterday_gets_neither_recovery_nor_fingerprint_links() {
        let shared = Memory {
            shared_yesterday: true,
            ..memory(false, &["first-of-the-morning"])
        };
        let newcomer = resolve(&signals(None, Some("new")), &shared, Options::default());
        assert!(newcomer.links.is_empty(), "{:?}", newcomer.links);
        let cookieless = resolve(&signals(None, None), &shared, Options::default());
        assert!(cookieless.links.is_empty(), "{:?}", cookieless.links);
        assert_eq!(cookieless.visitor, FP);
    }

    #[test]
    fn a_second_id_behind_a_fingerprint_withdraws_its_links() {
        let o = resolve(
            &signals(Some("b"), Some("b")),
            &memory(true, &["a"]),
            Options::default(),
        );
        assert!(o.withdraw_fingerprint_links && o.observe_fingerprint);
        let again = resolve(
            &signals(Some("a"), Some("a")),
            &memory(true, &["a"]),
            Options::default(),
        );
        assert!(!again.withdraw_fingerprint_links);
    }

    #[test]
    fn a_cookie_links_at_most_its_daily_cap_of_new_ids() {
        let options = Options {
            max_ids_per_cookie: 3,
            ..Options::default()
        };
        let under = Memory {
            cookie_ids_today: 2,
            ..memory(false, &[])
        };
        let o = resolve(&signals(Some("a"), Some("new")), &under, options);
        assert_eq!(o.links, [link("new", "a", LinkKind::ClientId, 0.95)]);
        assert!(!o.link_capped);
        let at = Memory {
            cookie_ids_today: 3,
            ..memory(false, &[])
        };
        let capped = resolve(&signals(Some("a"), Some("new")), &at, options);
        assert!(capped.links.is_empty() && capped.link_capped);
        assert_eq!(
            (
                capped.visitor.as_str(),
                capped.evidence,
                capped.cookie.as_str()
            ),
            ("a", Evidence::ServerCookie, "a"),
            "still counted for the cookie's visitor, which the cookie keeps naming"
        );
        // The cap is on client-id links only: a login is still recorded, and the cookie's
        // own id needs no link.
        let login = Signals {
            user: Some("u"),
            ..signals(Some("a"), Some("new"))
        };
        assert_eq!(kinds(&resolve(&login, &at, options)), [LinkKind::Login]);
        let same = resolve(&signals(Some("a"), Some("a")), &at, options);
        assert!(!same.link_capped);
    }

    #[test]
    fn login_links_the_visitor_to_the_user() {
        let s = Signals {
            user: Some("u42"),
            ..signals(Some("a"), Some("a"))
        };
        let o = resolve(&s, &memory(true, &[]), Options::default());
        assert_eq!(o.links, [link("a", "user:u42", LinkKind::Login, 1.0)]);
    }

    #[test]
    fn reset_starts_a_visitor_linked_to_nobody() {
        let s = Signals {
            reset: true,
            ..signals(Some("previous"), Some("fresh"))
        };
        let o = resolve(&s, &memory(false, &["previous"]), Options::default());
        assert_eq!((o.visitor.as_str(), o.cookie.as_str()), ("fresh", "fresh"));
        assert!(o.links.is_empty());
        assert!(!o.observe_fingerprint && !o.withdraw_fingerprint_links);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Ids from a small alphabet, so cookies, client ids and remembered visitors collide
        /// often; `fp` stands for the provisional id.
        fn id() -> impl Strategy<Value = String> {
            prop_oneof![
                Just(FP.to_string()),
                "[abc]".prop_map(|s| s.to_string()),
                Just("fp_other".to_string()),
            ]
        }

        fn case() -> impl Strategy<
            Value = (
                Option<String>,
                Option<String>,
                Option<String>,
                bool,
                Memory,
                bool,
            ),
        > {
            (
                proptest::option::of(id()),
                proptest::option::of("[abc]".prop_map(|s| s.to_string())),
                proptest::option::of("u[12]".prop_map(|s| s.to_string())),
                any::<bool>(),
                (
                    any::<bool>(),
                    proptest::collection::vec("[abc]".prop_map(|s| s.to_string()), 0..3),
                    proptest::option::of(0i64..2 * RECOVERY_WINDOW_MS),
                    any::<bool>(),
                    0u32..4,
                )
                    .prop_map(|(known, mut behind, last, shared, cookie_ids)| {
                        behind.sort();
                        behind.dedup();
                        Memory {
                            client_id_known: known,
                            last_seen_ms: last.filter(|_| !behind.is_empty()),
                            behind_fingerprint: behind,
                            shared_yesterday: shared,
                            cookie_ids_today: cookie_ids,
                        }
                    }),
                any::<bool>(),
            )
        }

        proptest! {
            #[test]
            fn the_rule_keeps_its_promises(
                (cookie, client, user, reset, memory, recovery) in case(),
                now in 0i64..2 * RECOVERY_WINDOW_MS,
            ) {
                let s = Signals {
                    server_cookie: cookie.as_deref(),
                    client_id: client.as_deref(),
                    user: user.as_deref(),
                    reset,
                    fingerprint: FP,
                    now_ms: now,
                };
                let options = Options { recovery, max_ids_per_cookie: 2 };
                let o = resolve(&s, &memory, options);
                // The cookie always names the visitor the event was counted for.
                prop_assert_eq!(&o.cookie, &o.visitor);
                // No link joins a node to itself.
                prop_assert!(o.links.iter().all(|l| l.a != l.b), "{:?}", o.links);
                let kinds: Vec<LinkKind> = o.links.iter().map(|l| l.kind).collect();
                // Network evidence never links across a shared address, nor after reset.
                let network = kinds
                    .iter()
                    .any(|k| matches!(k, LinkKind::Fingerprint | LinkKind::Recovery));
                if memory.behind_fingerprint.len() != 1 || memory.shared_yesterday || reset {
                    prop_assert!(!network, "{:?} with {:?}", kinds, memory);
                }
                if !recovery {
                    prop_assert!(!kinds.contains(&LinkKind::Recovery));
                }
                // A cookie at its daily cap gets no client-id link; a capped link is one
                // that was not made.
                if memory.cookie_ids_today >= options.max_ids_per_cookie {
                    prop_assert!(!kinds.contains(&LinkKind::ClientId));
                }
                if o.link_capped {
                    prop_assert!(!kinds.contains(&LinkKind::ClientId));
                    prop_assert!(memory.cookie_ids_today >= options.max_ids_per_cookie);
                }
                // A reset links nothing but the login it may carry, and is not remembered.
                if reset {
                    prop_assert!(kinds.iter().all(|k| *k == LinkKind::Login));
                    prop_assert!(!o.observe_fingerprint);
                }
                // A login is always recorded, to the user's node.
                if let Some(u) = &user {
                    let node = format!("{USER_PREFIX}{u}");
                    prop_assert!(o.links.iter().any(|l| l.kind == LinkKind::Login && l.b == node));
                }
                // The beacon's id, when sent, is the visitor unless a real cookie names it.
                if let (Some(id), false) = (&client, cookie.as_deref().is_some_and(|c| !c.starts_with(PREFIX))) {
                    prop_assert_eq!(&o.visitor, id);
                }
                // Without any id, the event is the provisional visitor's.
                if client.is_none() && (cookie.is_none() || reset) {
                    prop_assert_eq!(o.visitor.as_str(), FP);
                }
            }
        }
    }
}
