//! Sign-in throttling: failed attempts counted per account (e-mail, known or
//! not, so the limit reveals nothing) and per client address over a sliding
//! window; past the limit, attempts are refused before any password is checked
//! until the oldest failure leaves the window. A success clears its account's
//! count. Failures are kept in the store, so every node sharing it applies the
//! same limits and a restart forgets nothing; the store sees only opaque keys
//! (SHA-256 of a label and the e-mail or address) and times, each kept no longer
//! than the window.

use std::net::IpAddr;

use kidvault_domain::Timestamp;
use kidvault_store::Store;

use crate::Result;

/// The limits.
#[derive(Clone, Copy, Debug)]
pub struct SignInLimits {
    pub window: chrono::Duration,
    /// Failures per account within the window.
    pub per_account: usize,
    /// Failures per client address within the window.
    pub per_address: usize,
}

impl Default for SignInLimits {
    fn default() -> Self {
        Self { window: chrono::Duration::minutes(15), per_account: 5, per_address: 20 }
    }
}

/// An attempt's throttle keys, each with its limit: its account, and its
/// client address when known.
fn keys(limits: &SignInLimits, email: &str, from: Option<IpAddr>) -> Vec<([u8; 32], usize)> {
    let mut keys = vec![(account_key(email), limits.per_account)];
    keys.extend(from.map(|a| (key(b"address", a.to_string().as_bytes()), limits.per_address)));
    keys
}

fn account_key(email: &str) -> [u8; 32] {
    key(b"account", email.trim().to_lowercase().as_bytes())
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

/// `Some(seconds)` to wait when an attempt now would pass a limit.
pub(crate) async fn check(
    store: &dyn Store,
    limits: &SignInLimits,
    email: &str,
    from: Option<IpAddr>,
    now: Timestamp,
) -> Result<Option<u64>> {
    let keys = keys(limits, email, from);
    let most = keys.iter().map(|(_, l)| *l).max().unwrap_or(0) as u32;
    let ids: Vec<[u8; 32]> = keys.iter().map(|(k, _)| *k).collect();
    let failures = store.sign_in_failures(&ids, now - limits.window, most).await?;
    Ok(keys.iter().zip(&failures).filter_map(|((_, limit), f)| wait(f, *limit, limits.window, now)).max())
}

pub(crate) async fn failed(
    store: &dyn Store,
    limits: &SignInLimits,
    email: &str,
    from: Option<IpAddr>,
    now: Timestamp,
) -> Result<()> {
    let ids: Vec<[u8; 32]> = keys(limits, email, from).into_iter().map(|(k, _)| k).collect();
    Ok(store.record_sign_in_failure(&ids, now, now - limits.window).await?)
}

pub(crate) async fn succeeded(store: &dyn Store, email: &str) -> Result<()> {
    Ok(store.clear_sign_in_failures(&account_key(email)).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use kidvault_store::sqlite::SqliteStore;

    fn t(secs: i64) -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs)
    }

    fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.db")).unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn an_account_is_held_back_after_its_limit_until_the_window_moves_on() {
        let (_dir, s) = store();
        let l = SignInLimits::default();
        for i in 0..5 {
            assert_eq!(check(&s, &l, "Ana@x.org", None, t(i)).await.unwrap(), None);
            failed(&s, &l, "ana@x.org", None, t(i)).await.unwrap();
        }
        let wait = check(&s, &l, " ANA@x.org", None, t(10)).await.unwrap();
        assert_eq!(wait, Some(900 - 10), "until the first failure is 15 min old");
        assert_eq!(check(&s, &l, "bob@x.org", None, t(10)).await.unwrap(), None, "other accounts are not affected");
        assert_eq!(check(&s, &l, "ana@x.org", None, t(900)).await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_address_is_held_back_across_accounts_and_success_clears_only_the_account() {
        let (_dir, s) = store();
        let l = SignInLimits::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for i in 0..20 {
            failed(&s, &l, &format!("user{i}@x.org"), Some(ip), t(i)).await.unwrap();
        }
        assert!(check(&s, &l, "new@x.org", Some(ip), t(30)).await.unwrap().is_some());
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        assert_eq!(check(&s, &l, "new@x.org", Some(other), t(30)).await.unwrap(), None);
        for i in 0..5 {
            failed(&s, &l, "ana@x.org", None, t(100 + i)).await.unwrap();
        }
        assert!(check(&s, &l, "ana@x.org", None, t(110)).await.unwrap().is_some());
        succeeded(&s, "ana@x.org").await.unwrap();
        assert_eq!(check(&s, &l, "ana@x.org", None, t(110)).await.unwrap(), None);
        assert!(check(&s, &l, "new@x.org", Some(ip), t(110)).await.unwrap().is_some(), "the address still is");
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
        assert_eq!(rows.len(), 2);
        for key in rows {
            assert_eq!(key.len(), 32);
            let text = String::from_utf8_lossy(&key);
            assert!(!text.contains("ana") && !text.contains("192.0.2.7"));
        }
    }
}
