//! Sign-in throttling: failed attempts counted per account (e-mail, known or
//! not, so the limit reveals nothing) and per client address over a sliding
//! window; past the limit, attempts are refused before any password is checked
//! until the oldest failure leaves the window. A success clears its account's
//! count. Held in this process's memory, bounded in size (several nodes each
//! keep their own: the limits then apply per node).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;

use kidvault_domain::Timestamp;

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

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Key {
    Account(String),
    Address(IpAddr),
}

/// Failure times per key (bounded number of keys).
#[derive(Debug, Default)]
pub(crate) struct SignInThrottle {
    failures: Mutex<HashMap<Key, VecDeque<Timestamp>>>,
}

const MAX_KEYS: usize = 100_000;

impl SignInThrottle {
    fn keys(email: &str, from: Option<IpAddr>) -> Vec<(Key, bool)> {
        let mut keys = vec![(Key::Account(email.trim().to_lowercase()), true)];
        keys.extend(from.map(|a| (Key::Address(a), false)));
        keys
    }

    /// `Some(seconds)` to wait when an attempt now would pass a limit.
    pub(crate) fn check(
        &self,
        limits: &SignInLimits,
        email: &str,
        from: Option<IpAddr>,
        now: Timestamp,
    ) -> Option<u64> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = None::<u64>;
        for (key, account) in Self::keys(email, from) {
            let Some(q) = map.get_mut(&key) else { continue };
            while q.front().is_some_and(|t| *t <= now - limits.window) {
                q.pop_front();
            }
            let limit = if account { limits.per_account } else { limits.per_address };
            if q.len() >= limit {
                let free_at = q[q.len() - limit] + limits.window;
                let secs = (free_at - now).num_seconds().max(1) as u64;
                wait = Some(wait.map_or(secs, |w| w.max(secs)));
            }
        }
        wait
    }

    pub(crate) fn failed(&self, email: &str, from: Option<IpAddr>, now: Timestamp) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS {
            // Forget the keys whose last failure is oldest (amortised: half at once).
            let mut last: Vec<(Timestamp, Key)> =
                map.iter().filter_map(|(k, q)| q.back().map(|t| (*t, k.clone()))).collect();
            last.sort_by_key(|(t, _)| *t);
            for (_, k) in last.into_iter().take(MAX_KEYS / 2) {
                map.remove(&k);
            }
        }
        for (key, _) in Self::keys(email, from) {
            let q = map.entry(key).or_default();
            q.push_back(now);
            if q.len() > 64 {
                q.pop_front();
            }
        }
    }

    pub(crate) fn succeeded(&self, email: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&Key::Account(email.trim().to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(secs: i64) -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap() + chrono::Duration::seconds(secs)
    }

    #[test]
    fn an_account_is_held_back_after_its_limit_until_the_window_moves_on() {
        let (l, th) = (SignInLimits::default(), SignInThrottle::default());
        for i in 0..5 {
            assert_eq!(th.check(&l, "Ana@x.org", None, t(i)), None);
            th.failed("ana@x.org", None, t(i));
        }
        assert_eq!(th.check(&l, "ana@x.org", None, t(10)), Some(900 - 10), "until the first failure is 15 min old");
        assert_eq!(th.check(&l, "bob@x.org", None, t(10)), None, "other accounts are not affected");
        assert_eq!(th.check(&l, "ana@x.org", None, t(900)), None);
    }

    #[test]
    fn an_address_is_held_back_across_accounts_and_success_clears_only_the_account() {
        let (l, th) = (SignInLimits::default(), SignInThrottle::default());
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for i in 0..20 {
            th.failed(&format!("user{i}@x.org"), Some(ip), t(i));
        }
        assert!(th.check(&l, "new@x.org", Some(ip), t(30)).is_some());
        assert_eq!(th.check(&l, "new@x.org", Some("192.0.2.8".parse().unwrap()), t(30)), None);
        for i in 0..5 {
            th.failed("ana@x.org", None, t(100 + i));
        }
        th.succeeded("ana@x.org");
        assert_eq!(th.check(&l, "ana@x.org", None, t(110)), None);
    }
}
