//! The client-wide rate limiter: one permit per HTTP attempt, retries included.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

/// `governor` on tokio's clock instead of its default real-time one, so waits for permits are
/// tokio sleeps: they honour a paused test clock and never block a runtime thread, and the retry
/// tests measure permits and backoff on one consistent time line.
#[derive(Debug, Clone)]
struct TokioClock {
    origin: tokio::time::Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        tokio::time::Instant::now().saturating_duration_since(self.origin)
    }
}

pub(crate) struct Limiter {
    inner: RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>,
    clock: TokioClock,
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Limiter")
    }
}

impl Limiter {
    pub(crate) fn new(rate_per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        let clock = TokioClock {
            origin: tokio::time::Instant::now(),
        };
        let quota = Quota::per_second(rate_per_second).allow_burst(burst);
        Limiter {
            inner: RateLimiter::direct_with_clock(quota, clock.clone()),
            clock,
        }
    }

    /// Waits until a permit is available and takes it.
    pub(crate) async fn acquire(&self) {
        loop {
            match self.inner.check() {
                Ok(()) => return,
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.clock.now());
                    tokio::time::sleep(wait.max(Duration::from_micros(1))).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn permits_follow_rate_after_burst() {
        let nz = |n| NonZeroU32::new(n).expect("nonzero");
        let limiter = Limiter::new(nz(10), nz(3));
        let start = tokio::time::Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst is free");
        for _ in 0..10 {
            limiter.acquire().await;
        }
        let e = start.elapsed();
        assert!(
            e >= Duration::from_millis(990) && e <= Duration::from_millis(1010),
            "ten more permits at 10/s take a second, took {e:?}"
        );
    }
}
