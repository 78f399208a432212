//! Sign-in and sign-up throttling, shaped so that guessing is slow and nobody
//! else is locked out by it (a family or a school shares one NAT address):
//!
//! - **One address on one account**: 5 failures in the window hold that pair
//!   until the oldest failure leaves it. Someone guessing from one place stops;
//!   the same account from elsewhere, and other accounts from that address, do not.
//! - **One account from anywhere**: after 5 failures in the window each further
//!   attempt waits a delay that doubles with every failure (1 s, 2 s, 4 s, … up to
//!   the window) after the latest one: a distributed guesser gets a few dozen tries
//!   a day, the owner waits seconds.
//! - **One address across accounts** (spraying): failures on 20 distinct
//!   accounts from one address in the window hold the address.
//! - **Sign-ups**: 10 per address per window.
//!
//! Accounts are counted by e-mail, known or not, so a limit reveals nothing. A
//! success clears its account's and its pair's counts. Failures are kept in the
//! store, so every node sharing it applies the same limits and a restart forgets
//! nothing; the store sees only opaque keys (SHA-256 of a label and the e-mail or
//! address) and times, each kept no longer than the window.

use std::net::IpAddr;

use kidvault_domain::Timestamp;
use kidvault_store::Store;

use crate::Result;

/// The limits.
#[derive(Clone, Copy, Debug)]
pub struct SignInLimits {
    pub window: chrono::Duration,
    /// Failures per account (from anywhere) before the delays start growing.
    pub per_account: usize,
    /// Failures per (address, account) within the window.
    pub per_pair: usize,
    /// Distinct accounts failed from one address within the window.
    pub per_address: usize,
    /// Sign-ups per address within the window.
    pub sign_ups_per_address: usize,
}

impl Default for SignInLimits {
    fn default() -> Self {
        Self {
            window: chrono::Duration::minutes(15),
            per_account: 5,
            per_pair: 5,
            per_address: 20,
            sign_ups_per_address: 10,
        }
    }
}

fn normal(email: &str) -> String {
    email.trim().to_lowercase()
}

fn account_key(email: &str) -> [u8; 32] {
    key(b"account", normal(email).as_bytes())
}

fn pair_key(email: &str, from: IpAddr) -> [u8; 32] {
    key(b"pair", format!("{from}\0{}", normal(email)).as_bytes())
}

fn address_key(from: IpAddr) -> [u8; 32] {
    key(b"address", from.to_string().as_bytes())
}

fn sign_up_key(from: IpAddr) -> [u8; 32] {
    key(b"sign-up", from.to_string().as_bytes())
}

fn key(kind: &[u8], value: &[u8]) -> [u8; 32] {
    let mut msg = b"kidvault sign-in throttle v1\0".to_vec();
    msg.extend_from_slice(kind);
    msg.push(0);
    msg.extend_from_slice(value);
    kidvault_crypto::sha256(&msg)
}

/// Seconds to wait before an attempt at `now` would stay within `limit`, given
/// a key's latest failures inside the window (oldest first).
fn wait(failures: &[Timestamp], limit: usize, window: chrono::Duration, now: Timestamp) -> Option<u64> {
    if limit == 0 || failures.len() < limit {
        return None;
    }
    let free_at = failures[failures.len() - limit] + window;
    Some((free_at - now).num_seconds().max(1) as u64)
}

/// The growing delay: from the `limit`th failure on, 2^(failures - limit)
/// seconds after the latest one, never more than the window.
fn delay(failures: &[Timestamp], limit: usize, window: chrono::Duration, now: Timestamp) -> Option<u64> {
    let last = *failures.last()?;
    if limit == 0 || failures.len() < limit {
        return None;
    }
    let doublings = u32::try_from(failures.len() - limit).unwrap_or(u32::MAX).min(30);
    let pause = chrono::Duration::seconds(1i64 << doublings).min(window);
    let left = last + pause - now;
    (left > chrono::Duration::zero()).then(|| (left.num_milliseconds() as u64).div_ceil(1000).max(1))
}

/// How many of a key's latest failures a check needs.
fn needed(limits: &SignInLimits) -> u32 {
    // Enough for the account's delay to reach the window (2^12 s > any window here).
    (limits.per_account + 12).max(limits.per_pair).max(limits.per_address) as u32
}

/// `Some(seconds)` to wait when a sign-in attempt now would pass a limit.
pub(crate) async fn check(
    store: &dyn Store,
    limits: &SignInLimits,
    email: &str,
    from: Option<IpAddr>,
    now: Timestamp,
) -> Result<Option<u64>> {
    let mut ids = vec![account_key(email)];
    if let Some(a) = from {
        ids.extend([pair_key(email, a), address_key(a)]);
    }
    let failures = store.sign_in_failures(&ids, now - limits.window, needed(limits)).await?;
    let w = limits.window;
    let mut waits = vec![delay(&failures[0], limits.per_account, w, now)];
    if from.is_some() {
        waits.push(wait(&failures[1], limits.per_pair, w, now));
        waits.push(wait(&failures[2], limits.per_address, w, now));
    }
    Ok(waits.into_iter().flatten().max())
}

/// Records a failed sign-in. The address's spraying count grows only with the
/// first failure of each account from it.
pub(crate) async fn failed(
    store: &dyn Store,
    limits: &SignInLimits,
    email: &str,
    from: Option<IpAddr>,
    now: Timestamp,
) -> Result<()> {
    let mut ids = vec![account_key(email)];
    if let Some(a) = from {
        let pair = pair_key(email, a);
        let before = store.sign_in_failures(&[pair], now - limits.window, 1).await?;
        ids.push(pair);
        if before.first().is_none_or(Vec::is_empty) {
            ids.push(address_key(a));
        }
    }
    Ok(store.record_sign_in_failure(&ids, now, now - limits.window).await?)
}

pub(crate) async fn succeeded(store: &dyn Store, email: &str, from: Option<IpAddr>) -> Result<()> {
    store.clear_sign_in_failures(&account_key(email)).await?;
    if let Some(a) = from {
        store.clear_sign_in_failures(&pair_key(email, a)).await?;
    }
    Ok(())
}

/// `Some(seconds)` to wait when a sign-up from `from` now would pass its limit.
pub(crate) async fn check_sign_up(
    store: &dyn Store,
    limits: &SignInLimits,
    from: Option<IpAddr>,
    now: Timestamp,
) -> Result<Option<u64>> {
    check_new(store, limits, from.map(sign_up_key), now).await
}

/// Records a sign-up from `from` (it counts toward the address's limit).
pub(crate) async fn signed_up(
    store: &dyn Store,
    limits: &SignInLimits,
    from: Option<IpAddr>,
    now: Timestamp,
) -> Result<()> {
    made_new(store, limits, from.map(sign_up_key), now).await
}

/// Device pairing codes asked for from one address: the same budget as
/// sign-ups, counted apart (the endpoint needs no account, so it is limited).
pub(crate) async fn check_pairing(
    store: &dyn Store,
    limits: &SignInLimits,
    from: Option<IpAddr>,
    now: Timestamp,
) -> Result<Option<u64>> {
    check_new(store, limits, from.map(|a| key(b"pairing", a.to_string().as_bytes())), now).await
}

pub(crate) async fn paired(
    store: &dyn Store,
    limits: &SignInLimits,
    from: Option<IpAddr>,
    now: Timestamp,
) -> Result<()> {
    made_new(store, limits, from.map(|a| key(b"pairing", a.to_string().as_bytes())), now).await
}

/// Wrong pairing codes a guardian has typed: as many as sign-ups per address
/// in the window, then every attempt waits (a code is 8 letters from 20).
pub(crate) async fn check_code_guesses(
    store: &dyn Store,
    limits: &SignInLimits,
    guardian: kidvault_domain::ids::GuardianId,
    now: Timestamp,
) -> Result<Option<u64>> {
    check_new(store, limits, Some(key(b"pairing-guess", guardian.to_string().as_bytes())), now).await
}

pub(crate) async fn code_guessed(
    store: &dyn Store,
    limits: &SignInLimits,
    guardian: kidvault_domain::ids::GuardianId,
    now: Timestamp,
) -> Result<()> {
    made_new(store, limits, Some(key(b"pairing-guess", guardian.to_string().as_bytes())), now).await
}

async fn check_new(
    store: &dyn Store,
    limits: &SignInLimits,
    k: Option<[u8; 32]>,
    now: Timestamp,
) -> Result<Option<u64>> {
    let Some(k) = k else { return Ok(None) };
    let n = limits.sign_ups_per_address as u32;
    let seen = store.sign_in_failures(&[k], now - limits.window, n).await?;
    Ok(wait(&seen[0], limits.sign_ups_per_address, limits.window, now))
}

async fn made_new(store: &dyn Store, limits: &SignInLimits, k: Option<[u8; 32]>, now: Timestamp) -> Result<()> {
    let Some(k) = k else { return Ok(()) };
    Ok(store.record_sign_in_failure(&[k], now, now - limits.window).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use kidvault_store_sqlite::SqliteStore;

    fn t(secs: i64) -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs)
    }

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        (dir, store)
    }

    fn ip(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, last]))
    }

    #[tokio::test]
    async fn one_address_guessing_one_account_is_held_and_nobody_else_is() {
        let (_dir, s) = store();
        let l = SignInLimits::default();
        for i in 0..5 {
            assert_eq!(check(&s, &l, "Ana@x.org", ip(1), t(i)).await.unwrap(), None);
            failed(&s, &l, "ana@x.org", ip(1), t(i)).await.unwrap();
        }
        let wait = check(&s, &l, " ANA@x.org", ip(1), t(10)).await.unwrap();
        assert_eq!(wait, Some(900 - 10), "that pair waits until the first failure is 15 min old");
        // The same account from the family's other network, and another
        // account behind the same NAT address, go on.
        assert_eq!(check(&s, &l, "ana@x.org", ip(2), t(10)).await.unwrap(), None);
        assert_eq!(check(&s, &l, "bob@x.org", ip(1), t(10)).await.unwrap(), None);
        assert_eq!(check(&s, &l, "ana@x.org", ip(1), t(900)).await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_account_guessed_from_everywhere_waits_longer_after_each_failure() {
        let (_dir, s) = store();
        let l = SignInLimits::default();
        let mut waits = Vec::new();
        for i in 0..16u8 {
            let at = t(20_000 + i64::from(i));
            failed(&s, &l, "bo@x.org", ip(i), at).await.unwrap();
            waits.push(check(&s, &l, "bo@x.org", ip(100), at).await.unwrap());
        }
        let expected: Vec<Option<u64>> =
            [None, None, None, None, Some(1), Some(2), Some(4), Some(8), Some(16), Some(32), Some(64), Some(128)]
                .into_iter()
                .chain([Some(256), Some(512), Some(900), Some(900)])
                .collect();
        assert_eq!(waits, expected, "doubling from the fifth failure, never past the window");
        succeeded(&s, "bo@x.org", ip(100)).await.unwrap();
        assert_eq!(check(&s, &l, "bo@x.org", ip(100), t(20_016)).await.unwrap(), None, "a success clears it");
    }

    #[tokio::test]
    async fn one_address_spraying_many_accounts_is_held_but_retries_on_one_account_count_once() {
        let (_dir, s) = store();
        let l = SignInLimits::default();
        // A parent mistyping one account again and again: one distinct account.
        for i in 0..4 {
            failed(&s, &l, "ana@x.org", ip(7), t(i)).await.unwrap();
        }
        for i in 0..18 {
            failed(&s, &l, &format!("user{i}@x.org"), ip(7), t(10 + i)).await.unwrap();
        }
        assert_eq!(check(&s, &l, "new@x.org", ip(7), t(30)).await.unwrap(), None, "19 distinct accounts");
        failed(&s, &l, "user99@x.org", ip(7), t(30)).await.unwrap();
        assert!(check(&s, &l, "new@x.org", ip(7), t(31)).await.unwrap().is_some(), "20 distinct accounts");
        assert_eq!(check(&s, &l, "new@x.org", ip(8), t(31)).await.unwrap(), None);
    }

    #[tokio::test]
    async fn sign_ups_are_limited_per_address() {
        let (_dir, s) = store();
        let l = SignInLimits::default();
        for i in 0..10 {
            assert_eq!(check_sign_up(&s, &l, ip(1), t(i)).await.unwrap(), None);
            signed_up(&s, &l, ip(1), t(i)).await.unwrap();
        }
        assert_eq!(check_sign_up(&s, &l, ip(1), t(20)).await.unwrap(), Some(900 - 20));
        assert_eq!(check_sign_up(&s, &l, ip(2), t(20)).await.unwrap(), None);
        assert_eq!(check_sign_up(&s, &l, ip(1), t(900)).await.unwrap(), None);
    }

    /// The store holds hashes and times: no e-mail address or client address.
    #[tokio::test]
    async fn the_store_sees_neither_addresses_nor_e_mails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let s = SqliteStore::open(&path).unwrap();
        failed(&s, &SignInLimits::default(), "ana@x.org", Some("192.0.2.7".parse().unwrap()), t(0)).await.unwrap();
        drop(s);
        let conn = rusqlite::Connection::open(&path).unwrap();
        let rows: Vec<Vec<u8>> = conn
            .prepare("SELECT key FROM sign_in_failures")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(rows.len(), 3, "account, address and account, address");
        for key in rows {
            assert_eq!(key.len(), 32);
            let text = String::from_utf8_lossy(&key);
            assert!(!text.contains("ana") && !text.contains("192.0.2.7"));
        }
    }
}
