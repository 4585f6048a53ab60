//! A sliding-window rate limiter shared by every request of one client: never more than
//! `max` calls in ANY span of `len` (plus a safety margin), for several spans at once
//! (5 a second and 100 a minute).
//!
//! Why not a token bucket: a GCRA/token bucket with burst `b` and rate `b/len` lets `2b - 1`
//! calls through in some span of `len` (a full bucket spent at once, then refills), so
//! `governor` with burst 5 sends 9 calls within 0.8 s, and with burst 100 per minute sends 199
//! calls within 59.4 s. A gateway that counts calls in any 60 s (or any calendar minute) would
//! throttle that. Keeping the send times of the last `max` calls and scheduling the next one at
//! `max(now, times[n - max] + len)` is exact, allows the full burst, and sustains the configured
//! rate.
//!
//! Callers *reserve* a slot under a short lock, then sleep until it outside the lock: waiters
//! are served in order and never wake each other up for nothing.
//!
//! The gateway counts calls per app key, so every client of one app key at one gateway in a
//! process shares one limiter ([`RateLimiter::shared`]): merchants synced side by side under
//! one app key stay within its limits together.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

/// At most `max` calls in any span of `len`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub len: Duration,
}

#[derive(Debug)]
pub struct RateLimiter {
    limits: Vec<Limit>,
    state: Mutex<Schedule>,
}

/// The pure scheduling core: reserved send times, oldest first, and a pause floor.
#[derive(Debug, Default)]
pub struct Schedule {
    slots: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

impl Schedule {
    /// Reserves the earliest time at or after `now` that keeps every limit, records it and
    /// returns it.
    pub fn reserve(&mut self, limits: &[Limit], now: Instant) -> Instant {
        let mut at = now;
        if let Some(last) = self.slots.back() {
            at = at.max(*last);
        }
        if let Some(paused) = self.paused_until {
            at = at.max(paused);
        }
        for limit in limits {
            let max = limit.max.max(1) as usize;
            if self.slots.len() >= max {
                // The max-th most recent call must be at least `len` before the new one.
                let bound = self.slots[self.slots.len() - max] + limit.len;
                at = at.max(bound);
            }
        }
        self.slots.push_back(at);
        let keep = limits
            .iter()
            .map(|l| l.max.max(1) as usize)
            .max()
            .unwrap_or(1);
        while self.slots.len() > keep {
            self.slots.pop_front();
        }
        at
    }

    /// No call may be scheduled before `until`.
    pub fn pause_until(&mut self, until: Instant) {
        self.paused_until = Some(self.paused_until.map_or(until, |p| p.max(until)));
    }

    fn paused_after(&self, at: Instant) -> bool {
        self.paused_until.is_some_and(|p| p > at)
    }
}

impl RateLimiter {
    /// A limiter for `per_second` calls a second and `per_minute` calls a minute, each span
    /// lengthened by `margin`.
    pub fn new(per_second: u32, per_minute: u32, margin: Duration) -> Self {
        Self::with_limits(vec![
            Limit {
                max: per_second,
                len: Duration::from_secs(1) + margin,
            },
            Limit {
                max: per_minute,
                len: Duration::from_secs(60) + margin,
            },
        ])
    }

    /// The limiter of `app_key` at `api_url` in this process, created on first use: clients
    /// built for merchants that share an app key (and its configured limits) share it, so
    /// their calls together keep the gateway's limits.
    pub fn shared(
        api_url: &str,
        app_key: &str,
        per_second: u32,
        per_minute: u32,
        margin: Duration,
    ) -> Arc<RateLimiter> {
        type Key = (String, String, u32, u32, Duration);
        static LIMITERS: OnceLock<Mutex<HashMap<Key, Arc<RateLimiter>>>> = OnceLock::new();
        let key = (
            api_url.trim_end_matches('/').to_owned(),
            app_key.to_owned(),
            per_second,
            per_minute,
            margin,
        );
        let mut limiters = LIMITERS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Arc::clone(
            limiters
                .entry(key)
                .or_insert_with(|| Arc::new(RateLimiter::new(per_second, per_minute, margin))),
        )
    }

    pub fn with_limits(limits: Vec<Limit>) -> Self {
        Self {
            limits,
            state: Mutex::new(Schedule::default()),
        }
    }

    /// Waits until one more call may be sent, and counts it as sent.
    pub async fn acquire(&self) {
        loop {
            let at = self.lock().reserve(&self.limits, Instant::now());
            tokio::time::sleep_until(at).await;
            // A throttle answer that arrived while we slept pushes us back; the slot we held
            // is simply left unused, which only makes us slower.
            if !self.lock().paused_after(Instant::now()) {
                return;
            }
        }
    }

    /// Waits until the current pause (if any) is over, without taking a slot.
    pub async fn acquire_pause(&self) {
        loop {
            let paused = self.lock().paused_until;
            match paused {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => return,
            }
        }
    }

    /// Holds every call of this limiter back for `pause` from now (after a throttle answer).
    pub fn pause_for(&self, pause: Duration) {
        self.lock().pause_until(Instant::now() + pause);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Schedule> {
        // The schedule stays consistent even if a holder panicked: every update is one push.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_second: u32, per_minute: u32) -> Vec<Limit> {
        vec![
            Limit {
                max: per_second,
                len: Duration::from_secs(1),
            },
            Limit {
                max: per_minute,
                len: Duration::from_secs(60),
            },
        ]
    }

    /// The most calls found in any half-open span `[t, t + len)` of `times` (sorted).
    fn busiest_span(times: &[Instant], len: Duration) -> usize {
        let mut best = 0;
        let mut start = 0;
        for end in 0..times.len() {
            while times[end] - times[start] >= len {
                start += 1;
            }
            best = best.max(end - start + 1);
        }
        best
    }

    /// Schedules `n` calls that all ask at `now = asked(i)`.
    fn schedule(limits: &[Limit], n: usize, asked: impl Fn(usize) -> Duration) -> Vec<Instant> {
        let origin = Instant::now();
        let mut schedule = Schedule::default();
        let mut times: Vec<Instant> = (0..n)
            .map(|i| schedule.reserve(limits, origin + asked(i)))
            .collect();
        times.sort();
        times
    }

    #[test]
    fn a_burst_never_exceeds_either_limit_in_any_span_and_sustains_the_rate() {
        let limits = limits(5, 100);
        let times = schedule(&limits, 350, |_| Duration::ZERO);
        assert_eq!(busiest_span(&times, Duration::from_secs(1)), 5);
        assert_eq!(busiest_span(&times, Duration::from_secs(60)), 100);
        // Bursts of 5 a second until 100 are out, then the next 100 from exactly 60 s on:
        // calls 301..=350 go at 180 s..=189 s.
        assert_eq!(times[300] - times[0], Duration::from_secs(180));
        assert_eq!(*times.last().unwrap() - times[0], Duration::from_secs(189));
    }

    #[test]
    fn the_per_second_limit_alone_sustains_its_rate() {
        let limits = limits(20, 100_000);
        let times = schedule(&limits, 201, |_| Duration::ZERO);
        assert_eq!(busiest_span(&times, Duration::from_secs(1)), 20);
        let rate = 200.0 / (*times.last().unwrap() - times[0]).as_secs_f64();
        assert!((0.9 * 20.0..=20.0).contains(&rate), "rate {rate}");
    }

    #[test]
    fn calls_that_ask_late_are_not_delayed() {
        let limits = limits(5, 100);
        let origin = Instant::now();
        let mut schedule = Schedule::default();
        for i in 0..10 {
            let asked = origin + Duration::from_secs(i);
            assert_eq!(schedule.reserve(&limits, asked), asked);
        }
    }

    #[test]
    fn a_pause_holds_back_later_reservations() {
        let limits = limits(5, 100);
        let origin = Instant::now();
        let mut schedule = Schedule::default();
        schedule.pause_until(origin + Duration::from_secs(3));
        assert_eq!(
            schedule.reserve(&limits, origin),
            origin + Duration::from_secs(3)
        );
    }

    #[test]
    fn clients_of_one_app_key_at_one_gateway_share_one_limiter_and_others_do_not() {
        let margin = Duration::from_millis(50);
        let url = "http://127.0.0.1:1/router/rest";
        let a = RateLimiter::shared(url, "shared-key", 5, 100, margin);
        let b = RateLimiter::shared(&format!("{url}/"), "shared-key", 5, 100, margin);
        assert!(Arc::ptr_eq(&a, &b));
        let other_key = RateLimiter::shared(url, "other-key", 5, 100, margin);
        let other_gateway =
            RateLimiter::shared("http://127.0.0.1:2/", "shared-key", 5, 100, margin);
        assert!(!Arc::ptr_eq(&a, &other_key));
        assert!(!Arc::ptr_eq(&a, &other_gateway));
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_limit_in_real_time() {
        let limiter = std::sync::Arc::new(RateLimiter::with_limits(vec![Limit {
            max: 20,
            len: Duration::from_millis(1000),
        }]));
        let started = std::time::Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let limiter = limiter.clone();
            tasks.spawn(async move {
                let mut sent = Vec::new();
                for _ in 0..5 {
                    limiter.acquire().await;
                    sent.push(Instant::now());
                }
                sent
            });
        }
        let mut times: Vec<Instant> = tasks.join_all().await.into_iter().flatten().collect();
        times.sort();
        // 40 calls at 20 a second: the 21st goes at 1 s, the 40th soon after.
        assert!(busiest_span(&times, Duration::from_millis(900)) <= 20);
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(990), "{elapsed:?}");
        assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    }
}
