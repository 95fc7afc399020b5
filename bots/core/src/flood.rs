//! The per-user flood limit: a keyed GCRA rate limiter on the core's own
//! clock, so tests can drive time. A user over the limit is told once a
//! minute to slow down; the extra messages are not answered (not stored
//! either), and nobody else is affected because the limit is per user.
//!
//! Where it is kept depends on the state: on one SQLite file there is one
//! process, so an in-memory limiter (governor) is exact and costs no write
//! on SQLite's single writer. On a shared state (PostgreSQL, several
//! instances) the same GCRA runs in the database (`Coordination::
//! flood_admit`, one atomic upsert per message), so a user whose messages
//! reach several instances gets the limit once, not once per instance.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use governor::clock::Clock as GovClock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::model::Clock;
use crate::store::State;

/// The core's clock as governor's: nanoseconds since the limiter started.
#[derive(Clone)]
struct CoreClock {
    clock: Arc<dyn Clock>,
    start: DateTime<Utc>,
}

impl GovClock for CoreClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let d = (self.clock.now() - self.start).to_std().unwrap_or_default();
        Nanos::from(d)
    }
}

type Limiter = RateLimiter<String, HashMapStateStore<String>, CoreClock, NoOpMiddleware<Nanos>>;

/// What to do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allow,
    /// Over the limit: tell the user to slow down (once a minute).
    Warn,
    /// Over the limit and already told: drop quietly.
    Drop,
}

pub struct Flood {
    limiter: Limiter,
    clock: Arc<dyn Clock>,
    warned: Mutex<HashMap<String, DateTime<Utc>>>,
    /// Set on a shared state: the limit is kept there instead.
    shared: Option<Shared>,
}

struct Shared {
    store: Arc<dyn State>,
    per_minute: u32,
    burst: u32,
}

impl std::fmt::Debug for Flood {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flood").finish_non_exhaustive()
    }
}

impl Flood {
    pub fn new(per_minute: u32, burst: u32, clock: Arc<dyn Clock>) -> Self {
        let per = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per).allow_burst(burst);
        let gclock = CoreClock {
            clock: clock.clone(),
            start: clock.now(),
        };
        Flood {
            limiter: RateLimiter::new(quota, HashMapStateStore::default(), gclock),
            clock,
            warned: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// The limit kept in `store` (for a state several processes share),
    /// with the same GCRA as `new`.
    pub fn in_store(
        per_minute: u32,
        burst: u32,
        clock: Arc<dyn Clock>,
        store: Arc<dyn State>,
    ) -> Self {
        let mut f = Flood::new(per_minute, burst, clock);
        f.shared = Some(Shared {
            store,
            per_minute,
            burst,
        });
        f
    }

    /// Whether the limit is kept in the state database.
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    pub fn check(&self, key: &str) -> Verdict {
        if let Some(s) = &self.shared {
            return match s
                .store
                .flood_admit(key, self.clock.now(), s.per_minute, s.burst)
            {
                Ok(v) => v,
                // The database is down: the message is admitted (its
                // handling needs the database too and fails there, where
                // it is retried), rather than refusing everyone.
                Err(e) => {
                    tracing::warn!(error = %e, "flood limit unavailable; message admitted");
                    Verdict::Allow
                }
            };
        }
        if self.limiter.check_key(&key.to_string()).is_ok() {
            return Verdict::Allow;
        }
        let now = self.clock.now();
        let Ok(mut warned) = self.warned.lock() else {
            return Verdict::Drop;
        };
        match warned.get(key) {
            Some(t) if now - *t < chrono::Duration::minutes(1) => Verdict::Drop,
            _ => {
                warned.insert(key.to_string(), now);
                Verdict::Warn
            }
        }
    }

    /// Forgets users who have been quiet long enough to be back at a full
    /// burst, so memory stays bounded by recent users.
    pub fn prune(&self) {
        if let Some(s) = &self.shared {
            if let Err(e) = s.store.coord_prune(self.clock.now()) {
                tracing::warn!(error = %e, "cannot prune the flood limit's keys");
            }
            return;
        }
        self.limiter.retain_recent();
        let now = self.clock.now();
        if let Ok(mut w) = self.warned.lock() {
            w.retain(|_, t| now - *t < chrono::Duration::minutes(1));
        }
    }

    pub fn tracked(&self) -> usize {
        self.limiter.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ManualClock;
    use chrono::TimeZone;

    #[test]
    fn a_flooder_is_warned_once_then_dropped_and_others_are_unaffected() {
        let t0 = Utc
            .with_ymd_and_hms(2027, 1, 1, 9, 0, 0)
            .single()
            .expect("t");
        let clock = Arc::new(ManualClock::new(t0));
        let f = Flood::new(20, 8, clock.clone());
        assert_eq!(f.check("tg:0"), Verdict::Allow);
        let verdicts: Vec<Verdict> = (0..12).map(|_| f.check("tg:1")).collect();
        assert_eq!(&verdicts[..8], &[Verdict::Allow; 8], "the burst passes");
        assert_eq!(verdicts[8], Verdict::Warn);
        assert_eq!(&verdicts[9..], &[Verdict::Drop; 3]);
        assert_eq!(
            f.check("tg:2"),
            Verdict::Allow,
            "another user is not slowed"
        );
        // 20/min: one message regained every 3 s.
        clock.advance(chrono::Duration::seconds(3));
        assert_eq!(f.check("tg:1"), Verdict::Allow);
        assert_eq!(
            f.check("tg:1"),
            Verdict::Drop,
            "still within the warned minute"
        );
        clock.advance(chrono::Duration::seconds(61));
        for _ in 0..8 {
            assert_eq!(f.check("tg:1"), Verdict::Allow);
        }
        assert_eq!(
            f.check("tg:1"),
            Verdict::Warn,
            "warned again after a minute"
        );
        clock.advance(chrono::Duration::minutes(10));
        f.prune();
        assert_eq!(f.tracked(), 0, "quiet users are forgotten");
    }

    #[test]
    fn limiters_on_one_shared_state_count_a_users_messages_once() {
        let t0 = Utc
            .with_ymd_and_hms(2027, 1, 1, 9, 0, 0)
            .single()
            .expect("t");
        let clock = Arc::new(ManualClock::new(t0));
        let dir = tempfile::tempdir().expect("tmp");
        let store: Arc<dyn State> =
            Arc::new(crate::Store::open(&dir.path().join("s.sqlite")).expect("store"));
        // Two instances' limiters on one state.
        let a = Flood::in_store(20, 8, clock.clone(), store.clone());
        let b = Flood::in_store(20, 8, clock.clone(), store);
        assert!(a.is_shared());
        let verdicts: Vec<Verdict> = (0..6)
            .flat_map(|_| [a.check("tg:1"), b.check("tg:1")])
            .collect();
        assert_eq!(&verdicts[..8], &[Verdict::Allow; 8], "one burst for both");
        assert_eq!(verdicts[8], Verdict::Warn, "{verdicts:?}");
        assert_eq!(&verdicts[9..], &[Verdict::Drop; 3]);
        assert_eq!(
            b.check("tg:2"),
            Verdict::Allow,
            "another user is not slowed"
        );
    }
}
