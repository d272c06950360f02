//! [`IdentityState`]: what identity is decided from and what it decided. Daily salts and
//! their expiry, long-lived secrets and credentials, the identity memory the ingest
//! writer reads on a cache miss, ids linked per cookie, and the persons links make:
//! a person, why two ids are one, the links refused, every event's person, undoing a link.

use super::{LinkView, Person, StoreFuture};
use crate::identity::graph::Mode;
use crate::identity::resolver::Memory;

/// Salts, secrets, identity memory and persons.
pub trait IdentityState: Send + Sync {
    /// The random salt of Unix day `day` (UTC), created on first use. Salts of days before
    /// `day - 1` are deleted on the way, so no salt outlives two days.
    fn daily_salt(&self, day: i64) -> StoreFuture<'_, [u8; 32]>;

    /// Deletes the salts of days before `today - 1` (Unix days, UTC), those days'
    /// fingerprint observations and daily counters of ids per cookie, whether or not a
    /// request came today; returns the number of salts deleted. Run hourly by
    /// [`SaltExpiry`](crate::identity::salt::SaltExpiry).
    fn expire_salts(&self, today: i64) -> StoreFuture<'_, usize>;

    /// A long-lived random secret of 64 bytes named `name`, created on first use (the
    /// cookie signing key). Kept in the store so restarts and sibling collectors agree.
    fn secret(&self, name: &str) -> StoreFuture<'_, [u8; 64]>;

    /// The value stored under `name` by [`IdentityState::set_credential`] (the hash of the
    /// generated admin token), if any. Kept beside the secrets.
    fn credential(&self, name: &str) -> StoreFuture<'_, Option<Vec<u8>>>;

    /// Stores `value` under `name`, or deletes it (`None`). Deleting a
    /// [`IdentityState::secret`]'s name makes the next read create a new one (how the
    /// admin sessions are revoked).
    fn set_credential(&self, name: &str, value: Option<&[u8]>) -> StoreFuture<'_, ()>;

    /// What the store remembers that bears on resolving an event of `site` with
    /// `client_id` behind `fingerprint` on Unix day `day` (UTC). An empty `fingerprint` is
    /// not looked up (nobody behind it).
    fn identity_memory(
        &self,
        site: &str,
        client_id: Option<&str>,
        fingerprint: &str,
        day: i64,
    ) -> StoreFuture<'_, Memory>;

    /// Whether two or more distinct id visitors were seen behind `fingerprint` (a hash
    /// under the salt of Unix day `day`) on that day: the NAT guard's look back.
    fn fingerprint_shared(&self, site: &str, fingerprint: &str, day: i64) -> StoreFuture<'_, bool>;

    /// How many client ids were linked to `visitor` (a server cookie's) on Unix day `day`
    /// (UTC): the identity guard's counter, read in constant time.
    fn cookie_ids(&self, site: &str, visitor: &str, day: i64) -> StoreFuture<'_, u32>;

    /// The person `visitor` belongs to under `mode`, or `None` for an unknown visitor.
    fn person(&self, site: &str, visitor: &str, mode: Mode) -> StoreFuture<'_, Option<Person>>;

    /// Why `a` and `b` (visitor ids, or `user:` nodes) are one person under `mode`: a
    /// shortest chain of active links from `a` to `b` (empty when `a == b`), or `None`
    /// when they are different persons.
    fn explain(
        &self,
        site: &str,
        a: &str,
        b: &str,
        mode: Mode,
    ) -> StoreFuture<'_, Option<Vec<LinkView>>>;

    /// The links between `a`'s and `b`'s persons that are recorded but not followed under
    /// `mode`, because they would join two users (see [`persons`](crate::identity::persons)).
    fn refused(&self, site: &str, a: &str, b: &str, mode: Mode) -> StoreFuture<'_, Vec<LinkView>>;

    /// Every event of `site` with the person its visitor belongs to under `mode`, as
    /// `(event id, person id)` (the accuracy simulator scores these against its truth).
    fn event_persons(&self, site: &str, mode: Mode) -> StoreFuture<'_, Vec<(String, String)>>;

    /// Undoes link `id` (persons are worked out again without it); false if unknown.
    fn undo_link(&self, id: i64) -> StoreFuture<'_, bool>;
}
