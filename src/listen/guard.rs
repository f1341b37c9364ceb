//! The receiver's two memories: a token bucket per source (the rate limit) and the signed
//! deliveries seen inside the timestamp window (replay protection).

use std::collections::HashMap;
use std::sync::Mutex;

/// Remembered signatures at most; past it the ones closest to expiry are forgotten first.
/// The rate limit keeps a real sender far below it (rate × window).
const REMEMBER_AT_MOST: usize = 100_000;

/// Per-source token buckets: `rate` deliveries per second, `burst` at once.
pub struct Buckets {
    rate: f64,
    burst: f64,
    // (tokens, last refill in ms)
    by_source: Mutex<HashMap<String, (f64, i64)>>,
}

impl Buckets {
    pub fn new(rate: f64, burst: u32) -> Buckets {
        Buckets {
            rate,
            burst: f64::from(burst.max(1)),
            by_source: Mutex::new(HashMap::new()),
        }
    }

    /// Take a token for `source` at `now_ms`; Err(seconds to wait, at least 1) when empty.
    pub fn take(&self, source: &str, now_ms: i64) -> Result<(), u64> {
        let mut map = self
            .by_source
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, at) = map
            .entry(source.to_string())
            .or_insert((self.burst, now_ms));
        let elapsed_s = (now_ms - *at).max(0) as f64 / 1000.0;
        *tokens = (*tokens + elapsed_s * self.rate).min(self.burst);
        *at = now_ms;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

/// Signed deliveries seen, each until its timestamp leaves the window.
#[derive(Default)]
pub struct Seen {
    until: Mutex<HashMap<String, i64>>,
}

impl Seen {
    /// Remember `key` until `until_s`; false when it was already remembered (a replay).
    pub fn first_time(&self, key: &str, until_s: i64, now_s: i64) -> bool {
        let mut map = self
            .until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.get(key).is_some_and(|u| *u >= now_s) {
            return false;
        }
        if map.len() >= REMEMBER_AT_MOST {
            map.retain(|_, u| *u >= now_s);
        }
        if map.len() >= REMEMBER_AT_MOST
            && let Some(k) = map.iter().min_by_key(|(_, u)| **u).map(|(k, _)| k.clone())
        {
            map.remove(&k);
        }
        map.insert(key.to_string(), until_s);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_empties_and_refills_at_its_rate() {
        let b = Buckets::new(2.0, 3);
        for _ in 0..3 {
            assert_eq!(b.take("a", 0), Ok(()));
        }
        assert_eq!(b.take("a", 0), Err(1));
        // Another source has its own bucket.
        assert_eq!(b.take("b", 0), Ok(()));
        // Half a second at 2/s is one token.
        assert_eq!(b.take("a", 500), Ok(()));
        assert_eq!(b.take("a", 500), Err(1));
        let slow = Buckets::new(0.1, 1);
        assert_eq!(slow.take("a", 0), Ok(()));
        assert_eq!(slow.take("a", 0), Err(10));
    }

    #[test]
    fn a_key_is_refused_again_until_it_expires() {
        let s = Seen::default();
        assert!(s.first_time("m1.100", 400, 100));
        assert!(!s.first_time("m1.100", 400, 399));
        assert!(s.first_time("m1.160", 460, 160));
        // After its window the key is news again (its timestamp would be refused anyway).
        assert!(s.first_time("m1.100", 800, 401));
    }
}
