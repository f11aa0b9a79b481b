//! Failing engines on a call: the caller always hears something soon after
//! they stop speaking, never dead air (sans-IO).
//!
//! When the caller's turn ends, something must be said by
//! `spoke_until + [fallback] hold_ms`. The reply task aims for that instant
//! ([`EngineGuard::reply_by`]: the language model's answer is cut for the
//! knowledge base's, which is pre-rendered); when the transcript is still
//! not in by then (a slow or hung recogniser) a short pre-rendered
//! [`HOLD`] phrase is said and the turn waits on, until `give_up_ms`: then
//! the turn is dropped (a late transcript is ignored) and the caller gets
//! [`SORRY`]. An engine that fails outright (the recogniser's error, a
//! crashed worker, synthesis that fails) gets [`SORRY`] at once. After
//! `transfer_after` such failures in a row the caller is handed to an agent
//! ([`TRANSFER`], then the dialplan's transfer with its hours and fallback):
//! what a hotline does when its machine cannot serve a caller. Every phrase
//! here is rendered at start-up with the other prompts, so none can fail at
//! synthesis time.

use std::time::{Duration, Instant};

use serde::Deserialize;

/// Said when nothing is ready `hold_ms` after the caller stopped speaking.
pub const HOLD: &str = "잠시만 기다려 주세요.";
/// Said when an engine failed on the caller's turn.
pub const SORRY: &str = "죄송합니다. 잠시 문제가 있었습니다. 다시 한 번 말씀해 주시겠어요?";
/// Said before the transfer after repeated failures.
pub const TRANSFER: &str = "죄송합니다. 지금은 음성 안내가 원활하지 않아 상담원에게 연결해 드리겠습니다.";

/// `[fallback]` in sori.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FallbackConfig {
    /// From the end of the caller's speech: nothing ready by then and
    /// [`HOLD`] is said (the reply task also aims for this instant).
    pub hold_ms: u64,
    /// From the end of the caller's speech: still no transcript and the
    /// turn is given up ([`SORRY`]).
    pub give_up_ms: u64,
    /// Engine failures in a row on one call before the agent; 0 = never.
    pub transfer_after: u32,
}

impl Default for FallbackConfig {
    fn default() -> Self {
        FallbackConfig { hold_ms: 1400, give_up_ms: 4500, transfer_after: 2 }
    }
}

impl FallbackConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.hold_ms == 0 || self.give_up_ms <= self.hold_ms {
            return Err("[fallback]: need 0 < hold_ms < give_up_ms".into());
        }
        Ok(())
    }
}

/// What the call says instead of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Say {
    /// [`HOLD`]; the turn goes on waiting.
    Hold,
    /// [`SORRY`], then listen.
    Sorry,
    /// [`TRANSFER`], then the agent.
    Transfer,
}

impl Say {
    pub fn text(self) -> &'static str {
        match self {
            Say::Hold => HOLD,
            Say::Sorry => SORRY,
            Say::Transfer => TRANSFER,
        }
    }

    /// Label in the call's menu path and metrics.
    pub fn label(self) -> &'static str {
        match self {
            Say::Hold => "hold",
            Say::Sorry => "engine-trouble",
            Say::Transfer => "engine-transfer",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Waiting {
    /// Start of the caller's turn (stream time), its identity.
    turn: Duration,
    spoke_until: Instant,
    held: bool,
}

/// One call's watch over its engines.
#[derive(Debug)]
pub struct EngineGuard {
    hold: Duration,
    give_up: Duration,
    transfer_after: u32,
    waiting: Option<Waiting>,
    failures: u32,
    abandoned: Option<Duration>,
}

impl EngineGuard {
    pub fn new(cfg: &FallbackConfig) -> EngineGuard {
        EngineGuard {
            hold: Duration::from_millis(cfg.hold_ms),
            give_up: Duration::from_millis(cfg.give_up_ms.max(cfg.hold_ms)),
            transfer_after: cfg.transfer_after,
            waiting: None,
            failures: 0,
            abandoned: None,
        }
    }

    /// The caller's turn starting at `turn` ended; they stopped speaking at
    /// `spoke_until`.
    pub fn turn_ended(&mut self, turn: Duration, spoke_until: Instant) {
        self.waiting = Some(Waiting { turn, spoke_until, held: false });
    }

    /// When the guard acts next, if it waits for a turn's reply.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.waiting.map(|w| w.spoke_until + if w.held { self.give_up } else { self.hold })
    }

    /// The instant the reply being made should be ready by.
    pub fn reply_by(&self) -> Option<Instant> {
        self.poll_timeout()
    }

    /// Time passed: what to say, if the guard's instant has come.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Say> {
        let at = self.poll_timeout()?;
        let w = self.waiting.as_mut()?;
        if now < at {
            return None;
        }
        if !w.held {
            w.held = true;
            return Some(Say::Hold);
        }
        self.abandoned = Some(w.turn);
        Some(self.failed())
    }

    /// A reply was spoken for the caller's turn: all is well.
    pub fn spoken(&mut self) {
        self.waiting = None;
        self.failures = 0;
    }

    /// The turn needs no reply after all (noise, or the caller talks on).
    pub fn dropped(&mut self) {
        self.waiting = None;
    }

    /// An engine failed on the caller's turn: what to say instead.
    pub fn failed(&mut self) -> Say {
        self.waiting = None;
        self.failures += 1;
        if self.transfer_after > 0 && self.failures >= self.transfer_after {
            self.failures = 0;
            Say::Transfer
        } else {
            Say::Sorry
        }
    }

    /// Whether the turn starting at `turn` was given up (its late
    /// transcript is ignored).
    pub fn is_abandoned(&self, turn: Duration) -> bool {
        self.abandoned == Some(turn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_slow_turn_gets_the_hold_phrase_then_is_given_up() {
        let mut g = EngineGuard::new(&FallbackConfig::default());
        let t0 = Instant::now();
        assert_eq!(g.poll_timeout(), None);
        g.turn_ended(ms(3000), t0);
        assert_eq!(g.poll_timeout(), Some(t0 + ms(1400)));
        assert_eq!(g.handle_timeout(t0 + ms(1000)), None, "not yet");
        assert_eq!(g.handle_timeout(t0 + ms(1400)), Some(Say::Hold));
        assert_eq!(g.poll_timeout(), Some(t0 + ms(4500)));
        assert!(!g.is_abandoned(ms(3000)));
        assert_eq!(g.handle_timeout(t0 + ms(4500)), Some(Say::Sorry));
        assert!(g.is_abandoned(ms(3000)), "its late transcript is ignored");
        assert_eq!(g.poll_timeout(), None);
    }

    #[test]
    fn a_reply_in_time_disarms_and_clears_the_failures() {
        let mut g = EngineGuard::new(&FallbackConfig::default());
        let t0 = Instant::now();
        g.turn_ended(ms(0), t0);
        assert_eq!(g.failed(), Say::Sorry);
        g.turn_ended(ms(5000), t0);
        g.spoken();
        assert_eq!(g.poll_timeout(), None);
        assert_eq!(g.handle_timeout(t0 + ms(9000)), None);
        g.turn_ended(ms(9000), t0);
        assert_eq!(g.failed(), Say::Sorry, "the count started again after a good turn");
    }

    #[test]
    fn repeated_failures_go_to_the_agent() {
        let mut g = EngineGuard::new(&FallbackConfig::default());
        let t0 = Instant::now();
        g.turn_ended(ms(0), t0);
        assert_eq!(g.failed(), Say::Sorry);
        g.turn_ended(ms(4000), t0);
        g.handle_timeout(t0 + ms(1400));
        assert_eq!(g.handle_timeout(t0 + ms(4500)), Some(Say::Transfer), "second failure in a row");
        let mut never = EngineGuard::new(&FallbackConfig { transfer_after: 0, ..Default::default() });
        for _ in 0..5 {
            assert_eq!(never.failed(), Say::Sorry);
        }
    }

    #[test]
    fn a_caller_who_talks_on_disarms_it() {
        let mut g = EngineGuard::new(&FallbackConfig::default());
        let t0 = Instant::now();
        g.turn_ended(ms(0), t0);
        g.dropped();
        assert_eq!(g.handle_timeout(t0 + ms(10_000)), None);
        assert!(FallbackConfig { hold_ms: 2000, give_up_ms: 1000, transfer_after: 1 }.validate().is_err());
    }
}
