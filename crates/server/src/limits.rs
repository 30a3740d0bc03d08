//! Rate limits: token buckets (governor's GCRA) keyed by account or client address, one per
//! kind of request the settings name. Beyond its rate a request is 429 `rate_limited` with
//! `Retry-After`.
//!
//! Two shapes: a [`Bucket`] spends a cell on every request (comments, purchases); a [`Brake`]
//! counts events only once they have happened (a declined card, a token Ovation does not
//! know) and, when an event finds its bucket empty, refuses that key's next requests until a
//! cell is back — the event itself cannot be taken back, but the next attempt is stopped
//! before it reaches the payment provider or the database.
//!
//! Buckets live in this node's memory: behind N nodes a key may get up to N times its rate.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// Keys a limiter remembers before it forgets those whose bucket is full again.
const KEYS_MAX: usize = 100_000;

/// A rate: one cell every `period`, at most `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Time for one cell to come back.
    pub period: Duration,
    /// Cells a full bucket holds.
    pub burst: NonZeroU32,
}

impl Rate {
    /// `count` per `window`, all of them at once if need be (burst `count`); `None` for 0.
    pub fn per(count: u32, window: Duration) -> Option<Rate> {
        let burst = NonZeroU32::new(count)?;
        Some(Rate {
            period: window / count,
            burst,
        })
    }

    /// The same rate with another burst (`0` keeps it).
    #[must_use]
    pub fn with_burst(self, burst: u32) -> Rate {
        Rate {
            burst: NonZeroU32::new(burst).unwrap_or(self.burst),
            ..self
        }
    }
}

/// The configured rates; `None` is not limited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateConfig {
    /// Comments per account.
    pub comments: Option<Rate>,
    /// Badge purchases per account (not limited by default).
    pub purchases: Option<Rate>,
    /// Failed sign-ins and unknown bearer tokens per client address.
    pub signin_failures: Option<Rate>,
    /// Declined card payments per account.
    pub card_declines: Option<Rate>,
}

/// The 429 for a wait of `wait`, in whole seconds rounded up (at least 1).
fn rate_limited(wait: Duration) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::RateLimited {
        retry_after_secs: secs.max(1),
    }
}

/// A keyed token bucket that spends a cell per request.
pub struct Bucket {
    limiter: DefaultKeyedRateLimiter<String>,
}

impl std::fmt::Debug for Bucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bucket")
            .field("keys", &self.limiter.len())
            .finish()
    }
}

impl Bucket {
    /// A bucket per key at `rate`.
    pub fn new(rate: Rate) -> Bucket {
        let quota = Quota::with_period(rate.period)
            .unwrap_or_else(|| Quota::per_second(rate.burst))
            .allow_burst(rate.burst);
        Bucket {
            limiter: RateLimiter::keyed(quota),
        }
    }

    /// Spends a cell of `key`'s bucket, or 429 with the wait until one is back.
    pub fn take(&self, key: &str) -> Result<(), ApiError> {
        if self.limiter.len() >= KEYS_MAX {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| {
                rate_limited(not_until.wait_time_from(DefaultClock::default().now()))
            })
    }
}

/// A bucket of events that, once empty, holds a key back until a cell is back.
#[derive(Debug)]
pub struct Brake {
    events: Bucket,
    held: Mutex<HashMap<String, Instant>>,
}

impl Brake {
    /// A brake per key at `rate`.
    pub fn new(rate: Rate) -> Brake {
        Brake {
            events: Bucket::new(rate),
            held: Mutex::new(HashMap::new()),
        }
    }

    /// Ok unless `key` is held back: then 429 with the time left.
    pub fn check(&self, key: &str) -> Result<(), ApiError> {
        let mut held = self.held.lock().expect("brake lock is never poisoned");
        match held.get(key) {
            Some(until) if *until > Instant::now() => Err(rate_limited(
                until.saturating_duration_since(Instant::now()),
            )),
            Some(_) => {
                held.remove(key);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts an event of `key`; when its bucket was empty, holds the key back and answers
    /// the 429 its next requests get.
    pub fn record(&self, key: &str) -> Result<(), ApiError> {
        let Err(refused) = self.events.take(key) else {
            return Ok(());
        };
        let ApiError::RateLimited { retry_after_secs } = refused else {
            return Err(refused);
        };
        let mut held = self.held.lock().expect("brake lock is never poisoned");
        let now = Instant::now();
        if held.len() >= KEYS_MAX {
            held.retain(|_, until| *until > now);
        }
        held.insert(key.to_owned(), now + Duration::from_secs(retry_after_secs));
        Err(refused)
    }
}

/// Every rate limit of this node.
#[derive(Debug)]
pub struct RateLimits {
    comments: Option<Bucket>,
    purchases: Option<Bucket>,
    signin_failures: Option<Brake>,
    card_declines: Option<Brake>,
}

impl RateLimits {
    /// The limits `config` sets.
    pub fn new(config: &RateConfig) -> RateLimits {
        RateLimits {
            comments: config.comments.map(Bucket::new),
            purchases: config.purchases.map(Bucket::new),
            signin_failures: config.signin_failures.map(Brake::new),
            card_declines: config.card_declines.map(Brake::new),
        }
    }

    /// A comment by `account`.
    pub fn comment(&self, account: &str) -> Result<(), ApiError> {
        self.comments.as_ref().map_or(Ok(()), |b| b.take(account))
    }

    /// A badge purchase by `account`.
    pub fn purchase(&self, account: &str) -> Result<(), ApiError> {
        self.purchases.as_ref().map_or(Ok(()), |b| b.take(account))
    }

    /// Whether `address` may try a token Ovation must look up (a sign-in, a bearer token
    /// not cached).
    pub fn token_lookup(&self, address: &str) -> Result<(), ApiError> {
        self.signin_failures
            .as_ref()
            .map_or(Ok(()), |b| b.check(address))
    }

    /// `address` tried a token Ovation does not know.
    pub fn token_unknown(&self, address: &str) -> Result<(), ApiError> {
        self.signin_failures
            .as_ref()
            .map_or(Ok(()), |b| b.record(address))
    }

    /// Whether `account` may try a card payment.
    pub fn card_payment(&self, account: &str) -> Result<(), ApiError> {
        self.card_declines
            .as_ref()
            .map_or(Ok(()), |b| b.check(account))
    }

    /// A card payment of `account` was declined.
    pub fn card_declined(&self, account: &str) {
        if let Some(brake) = &self.card_declines {
            // The decline is answered as it is; the account's next attempts meet the brake.
            let _ = brake.record(account);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_with_a_wait() {
        let rate = Rate::per(5, Duration::from_secs(1))
            .expect("a rate")
            .with_burst(10);
        let bucket = Bucket::new(rate);
        for _ in 0..10 {
            bucket.take("ana").expect("within the burst");
        }
        let Err(ApiError::RateLimited { retry_after_secs }) = bucket.take("ana") else {
            panic!("the 11th is over the rate");
        };
        assert_eq!(retry_after_secs, 1);
        bucket.take("bob").expect("another key has its own bucket");
    }

    #[test]
    fn a_brake_holds_a_key_back_once_its_events_overflow() {
        let brake = Brake::new(Rate::per(2, Duration::from_secs(3_600)).expect("a rate"));
        brake.check("ana").expect("nothing happened yet");
        brake.record("ana").expect("first");
        brake.record("ana").expect("second");
        brake
            .check("ana")
            .expect("the bucket is empty but nothing overflowed");
        let Err(ApiError::RateLimited { retry_after_secs }) = brake.record("ana") else {
            panic!("the third overflows");
        };
        assert!(
            (1_700..=1_800).contains(&retry_after_secs),
            "{retry_after_secs}"
        );
        assert!(matches!(
            brake.check("ana"),
            Err(ApiError::RateLimited { .. })
        ));
        brake.check("bob").expect("another key is not held");
    }

    #[test]
    fn a_zero_rate_is_no_limit() {
        assert_eq!(Rate::per(0, Duration::from_secs(1)), None);
        let limits = RateLimits::new(&RateConfig::default());
        for _ in 0..1_000 {
            limits.comment("ana").expect("not limited");
        }
    }
}
