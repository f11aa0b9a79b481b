//! Fixed-delay jitter buffer for one audio RTP stream.
//!
//! Each packet is assumed to carry exactly one frame of fixed duration (20 ms),
//! so playout order follows the RTP sequence number. The caller pushes packets
//! as they arrive and calls [`JitterBuffer::pop`] once per frame tick.
//!
//! Behaviour:
//! * playout starts (and restarts after an underrun) once `depth_frames`
//!   worth of sequence numbers are buffered;
//! * a missing frame whose successors are buffered plays out as
//!   [`Playout::Lost`] so the caller can conceal it;
//! * packets older than the playout point are dropped as late, duplicates are
//!   ignored, and sequence numbers are unwrapped across 65535 → 0;
//! * the buffered span never exceeds `max_frames` (oldest frames are dropped);
//! * a sequence jump too large to be loss (stream restart, SSRC change)
//!   flushes the buffer and starts over from the new packet.

use std::collections::BTreeMap;

/// Extended sequence numbers start here so backward steps never underflow.
const EXT_BASE: u64 = 1 << 32;
/// Smallest forward/backward jump (in frames) treated as a stream restart.
const MIN_RESYNC_JUMP: u64 = 100;
/// Consecutive far-behind packets needed before resynchronising to them.
const FAR_BEHIND_RESYNC: u32 = 3;

/// Result of one playout tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Playout {
    /// The payload of the next frame.
    Frame(Vec<u8>),
    /// The next frame is missing (lost or too late): the caller conceals it.
    Lost,
    /// Nothing to play: not started yet, or drained and re-buffering.
    Empty,
}

/// Counters since creation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JitterStats {
    /// Packets pushed.
    pub received: u64,
    /// Packets whose frame was already buffered or already played.
    pub duplicates: u64,
    /// Packets dropped because their playout time had passed (or to keep the
    /// buffer within `max_frames`).
    pub late_dropped: u64,
    /// Frames that were never received in time for playout.
    pub lost: u64,
    /// Packets that arrived after a packet with a higher sequence number.
    pub reordered: u64,
    /// Times the buffer restarted after a huge sequence jump.
    pub resyncs: u64,
}

/// Frames to take out of the jitter buffer on one receive tick: one, or
/// up to three while it holds more than its depth + 1 (the caller's clock is
/// faster than ours, or the receiver stalled). A listener clocked by
/// samples loses no audio by catching up, only the backlog's delay.
pub fn frames_to_take(buffered: usize, depth: usize) -> usize {
    if buffered > depth + 1 {
        (buffered - depth).min(3)
    } else {
        1
    }
}

/// Jitter buffer for one audio stream with a fixed frame duration.
#[derive(Debug, Clone)]
pub struct JitterBuffer {
    depth: usize,
    max_frames: usize,
    /// Buffered payloads keyed by extended sequence number.
    frames: BTreeMap<u64, Vec<u8>>,
    /// Highest extended sequence number received (reference for unwrapping).
    highest: Option<u64>,
    /// Next extended sequence number to play; `None` before the first start.
    next: Option<u64>,
    /// Whether playout is running (false while pre-buffering).
    playing: bool,
    /// Bit `i` set = frame `next - 1 - i` was played (duplicate detection).
    played_mask: u64,
    /// Consecutive packets far behind the stream.
    far_behind: u32,
    stats: JitterStats,
}

impl JitterBuffer {
    /// Creates a buffer that delays playout by `depth_frames` frames (e.g. 3
    /// = 60 ms at 20 ms) and holds at most `max_frames` frames.
    pub fn new(depth_frames: usize, max_frames: usize) -> Self {
        let depth = depth_frames.max(1);
        Self {
            depth,
            max_frames: max_frames.max(depth),
            frames: BTreeMap::new(),
            highest: None,
            next: None,
            playing: false,
            played_mask: 0,
            far_behind: 0,
            stats: JitterStats::default(),
        }
    }

    /// Adds a received packet. `ts` is accepted for completeness; ordering
    /// uses the sequence number because each packet holds exactly one frame.
    pub fn push(&mut self, seq: u16, ts: u32, payload: Vec<u8>) {
        let _ = ts;
        self.stats.received += 1;
        let Some(highest) = self.highest else {
            self.restart_at(seq, payload);
            return;
        };
        let delta = i64::from(seq.wrapping_sub(highest as u16) as i16);
        let ext = highest.wrapping_add_signed(delta);
        let resync_jump = (self.max_frames as u64).max(MIN_RESYNC_JUMP);

        if delta.unsigned_abs() > resync_jump {
            if delta > 0 {
                self.stats.resyncs += 1;
                self.restart_at(seq, payload);
            } else {
                self.far_behind += 1;
                if self.far_behind >= FAR_BEHIND_RESYNC {
                    self.stats.resyncs += 1;
                    self.restart_at(seq, payload);
                } else {
                    self.stats.late_dropped += 1;
                }
            }
            return;
        }
        self.far_behind = 0;

        if let Some(next) = self.next {
            if ext < next {
                if self.was_played(next, ext) {
                    self.stats.duplicates += 1;
                } else {
                    self.stats.late_dropped += 1;
                }
                return;
            }
        }
        if self.frames.contains_key(&ext) {
            self.stats.duplicates += 1;
            return;
        }
        if delta < 0 {
            if ext < self.window_start(highest) {
                self.stats.late_dropped += 1;
                return;
            }
            self.stats.reordered += 1;
        }
        self.frames.insert(ext, payload);
        if delta > 0 {
            self.highest = Some(ext);
            self.trim_window(ext);
        }
    }

    /// Returns what to play for the current 20 ms tick.
    pub fn pop(&mut self) -> Playout {
        if !self.playing {
            let (Some(&first), Some(highest)) = (self.frames.keys().next(), self.highest) else {
                return Playout::Empty;
            };
            if highest - first + 1 < self.depth as u64 {
                return Playout::Empty;
            }
            if let Some(next) = self.next {
                // Restart after an underrun: frames in the gap never came.
                if first > next {
                    self.stats.lost += first - next;
                    self.advance_mask(first - next, false);
                }
            }
            self.next = Some(first);
            self.playing = true;
        }
        let Some(next) = self.next else {
            return Playout::Empty;
        };
        if self.frames.is_empty() {
            // Underrun: pre-buffer again before resuming.
            self.playing = false;
            return Playout::Empty;
        }
        self.next = Some(next + 1);
        match self.frames.remove(&next) {
            Some(payload) => {
                self.advance_mask(1, true);
                Playout::Frame(payload)
            }
            None => {
                self.advance_mask(1, false);
                self.stats.lost += 1;
                Playout::Lost
            }
        }
    }

    /// Counters since creation.
    pub fn stats(&self) -> JitterStats {
        self.stats
    }

    /// Number of frames currently buffered.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when no frame is buffered.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Forgets the stream (e.g. after a re-INVITE); counters are kept.
    pub fn reset(&mut self) {
        self.frames.clear();
        self.highest = None;
        self.next = None;
        self.playing = false;
        self.played_mask = 0;
        self.far_behind = 0;
    }

    fn restart_at(&mut self, seq: u16, payload: Vec<u8>) {
        self.reset();
        let ext = EXT_BASE + u64::from(seq);
        self.highest = Some(ext);
        self.frames.insert(ext, payload);
    }

    fn window_start(&self, highest: u64) -> u64 {
        (highest + 1).saturating_sub(self.max_frames as u64)
    }

    /// Drops frames that fall out of the `max_frames` window ending at
    /// `highest`, moving the playout point forward if needed.
    fn trim_window(&mut self, highest: u64) {
        let start = self.window_start(highest);
        let kept = self.frames.split_off(&start);
        let dropped = std::mem::replace(&mut self.frames, kept);
        self.stats.late_dropped += dropped.len() as u64;
        if let Some(next) = self.next {
            if next < start {
                let skipped = start - next;
                let dropped_in_range = dropped.keys().filter(|&&k| k >= next).count() as u64;
                self.stats.lost += skipped - dropped_in_range;
                self.advance_mask(skipped, false);
                self.next = Some(start);
            }
        }
    }

    fn advance_mask(&mut self, steps: u64, played: bool) {
        self.played_mask = if steps >= 64 { 0 } else { self.played_mask << steps };
        if played {
            self.played_mask |= 1;
        }
    }

    fn was_played(&self, next: u64, ext: u64) -> bool {
        let age = next - 1 - ext;
        age < 64 && self.played_mask & (1 << age) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(seq: u16) -> Vec<u8> {
        seq.to_be_bytes().to_vec()
    }

    fn push(jb: &mut JitterBuffer, seq: u16) {
        jb.push(seq, u32::from(seq) * 160, frame(seq));
    }

    fn played(p: Playout) -> Option<u16> {
        match p {
            Playout::Frame(v) => Some(u16::from_be_bytes([v[0], v[1]])),
            _ => None,
        }
    }

    #[test]
    fn a_backlog_is_worked_off_at_most_three_frames_a_tick() {
        assert_eq!(frames_to_take(0, 3), 1);
        assert_eq!(frames_to_take(3, 3), 1);
        assert_eq!(frames_to_take(4, 3), 1, "one frame of slack");
        assert_eq!(frames_to_take(5, 3), 2);
        assert_eq!(frames_to_take(50, 3), 3, "at most three per tick");
    }

    #[test]
    fn waits_for_depth_before_playing_in_order() {
        let mut jb = JitterBuffer::new(3, 50);
        assert_eq!(jb.pop(), Playout::Empty);
        push(&mut jb, 1);
        assert_eq!(jb.pop(), Playout::Empty);
        push(&mut jb, 2);
        assert_eq!(jb.pop(), Playout::Empty);
        push(&mut jb, 3);
        assert_eq!(played(jb.pop()), Some(1));
        push(&mut jb, 4);
        assert_eq!(played(jb.pop()), Some(2));
        assert_eq!(played(jb.pop()), Some(3));
        assert_eq!(played(jb.pop()), Some(4));
        assert_eq!(jb.pop(), Playout::Empty);
        assert_eq!(jb.stats().received, 4);
        assert_eq!(jb.stats().lost, 0);
    }

    #[test]
    fn reorders_out_of_order_packets() {
        let mut jb = JitterBuffer::new(3, 50);
        for seq in [10, 12, 11, 14, 13] {
            push(&mut jb, seq);
        }
        let out: Vec<_> = (0..5).map(|_| played(jb.pop())).collect();
        assert_eq!(out, vec![Some(10), Some(11), Some(12), Some(13), Some(14)]);
        assert_eq!(jb.stats().reordered, 2);
        assert_eq!(jb.stats().lost, 0);
    }

    #[test]
    fn early_packet_arriving_before_start_is_played_first() {
        let mut jb = JitterBuffer::new(3, 50);
        for seq in [11, 10, 12] {
            push(&mut jb, seq);
        }
        assert_eq!(played(jb.pop()), Some(10));
    }

    #[test]
    fn missing_frame_plays_as_lost() {
        let mut jb = JitterBuffer::new(3, 50);
        for seq in [1, 2, 3, 5, 6] {
            push(&mut jb, seq);
        }
        assert_eq!(played(jb.pop()), Some(1));
        assert_eq!(played(jb.pop()), Some(2));
        assert_eq!(played(jb.pop()), Some(3));
        assert_eq!(jb.pop(), Playout::Lost);
        assert_eq!(played(jb.pop()), Some(5));
        assert_eq!(played(jb.pop()), Some(6));
        assert_eq!(jb.stats().lost, 1);
    }

    #[test]
    fn duplicates_are_counted_and_played_once() {
        let mut jb = JitterBuffer::new(3, 50);
        for seq in [1, 1, 2, 3, 2] {
            push(&mut jb, seq);
        }
        assert_eq!(jb.len(), 3);
        assert_eq!(played(jb.pop()), Some(1));
        // Duplicate of a frame that has already been played.
        push(&mut jb, 1);
        assert_eq!(played(jb.pop()), Some(2));
        assert_eq!(played(jb.pop()), Some(3));
        assert_eq!(jb.pop(), Playout::Empty);
        let s = jb.stats();
        assert_eq!(s.duplicates, 3);
        assert_eq!(s.late_dropped, 0);
        assert_eq!(s.received, 6);
    }

    #[test]
    fn very_late_packet_is_dropped() {
        let mut jb = JitterBuffer::new(3, 50);
        for seq in [1, 2, 3, 5] {
            push(&mut jb, seq);
        }
        for _ in 0..3 {
            assert!(played(jb.pop()).is_some());
        }
        assert_eq!(jb.pop(), Playout::Lost);
        push(&mut jb, 4); // its slot has already been concealed
        assert_eq!(played(jb.pop()), Some(5));
        assert_eq!(jb.stats().late_dropped, 1);
        assert_eq!(jb.stats().duplicates, 0);
    }

    #[test]
    fn handles_sequence_wrap_around() {
        let mut jb = JitterBuffer::new(3, 50);
        for seq in [65533, 65534, 0, 65535, 1, 2] {
            push(&mut jb, seq);
        }
        let out: Vec<_> = (0..6).map(|_| played(jb.pop())).collect();
        assert_eq!(out, vec![Some(65533), Some(65534), Some(65535), Some(0), Some(1), Some(2)]);
        assert_eq!(jb.stats().reordered, 1);
        assert_eq!(jb.stats().lost, 0);
        assert_eq!(jb.stats().resyncs, 0);
    }

    #[test]
    fn resyncs_after_big_forward_jump() {
        let mut jb = JitterBuffer::new(3, 50);
        for seq in 1..=3 {
            push(&mut jb, seq);
        }
        assert_eq!(played(jb.pop()), Some(1));
        for seq in 20000..20003 {
            push(&mut jb, seq);
        }
        assert_eq!(jb.stats().resyncs, 1);
        assert_eq!(jb.len(), 3, "old frames are flushed on resync");
        assert_eq!(played(jb.pop()), Some(20000));
        assert_eq!(played(jb.pop()), Some(20001));
        assert_eq!(played(jb.pop()), Some(20002));
        assert_eq!(jb.stats().lost, 0, "a resync is not a 20000-frame loss");
    }

    #[test]
    fn resyncs_when_stream_restarts_far_behind() {
        let mut jb = JitterBuffer::new(3, 50);
        for seq in 30000..30003 {
            push(&mut jb, seq);
        }
        for _ in 0..3 {
            assert!(played(jb.pop()).is_some());
        }
        for seq in 5..=9 {
            push(&mut jb, seq);
        }
        assert_eq!(jb.stats().resyncs, 1);
        assert_eq!(jb.stats().late_dropped, 2);
        assert_eq!(played(jb.pop()), Some(7));
        assert_eq!(played(jb.pop()), Some(8));
        assert_eq!(played(jb.pop()), Some(9));
    }

    #[test]
    fn single_stray_old_packet_does_not_resync() {
        let mut jb = JitterBuffer::new(3, 50);
        for seq in 30000..30003 {
            push(&mut jb, seq);
        }
        push(&mut jb, 5);
        push(&mut jb, 30003);
        assert_eq!(jb.stats().resyncs, 0);
        assert_eq!(played(jb.pop()), Some(30000));
    }

    #[test]
    fn buffer_never_exceeds_max_frames() {
        let mut jb = JitterBuffer::new(3, 5);
        for seq in 1..=20 {
            push(&mut jb, seq);
            assert!(jb.len() <= 5);
        }
        assert_eq!(played(jb.pop()), Some(16));
        assert_eq!(jb.stats().late_dropped, 15);
    }

    #[test]
    fn overflow_while_playing_moves_playout_forward() {
        let mut jb = JitterBuffer::new(2, 4);
        for seq in 1..=2 {
            push(&mut jb, seq);
        }
        assert_eq!(played(jb.pop()), Some(1));
        // A burst far beyond the window (but below the resync jump).
        for seq in 10..=12 {
            push(&mut jb, seq);
        }
        assert_eq!(jb.pop(), Playout::Lost); // seq 9 never arrived
        assert_eq!(played(jb.pop()), Some(10));
        let s = jb.stats();
        assert_eq!(s.late_dropped, 1, "frame 2 was squeezed out");
        assert_eq!(s.lost, 7, "frames 3..=9 never arrived");
    }

    #[test]
    fn underrun_rebuffers_and_skips_missing_gap() {
        let mut jb = JitterBuffer::new(3, 50);
        for seq in 1..=3 {
            push(&mut jb, seq);
        }
        for _ in 0..3 {
            assert!(played(jb.pop()).is_some());
        }
        assert_eq!(jb.pop(), Playout::Empty);
        push(&mut jb, 6);
        assert_eq!(jb.pop(), Playout::Empty, "re-buffering");
        push(&mut jb, 7);
        push(&mut jb, 8);
        assert_eq!(played(jb.pop()), Some(6));
        assert_eq!(jb.stats().lost, 2);
    }

    /// A long stream through a bad network (10 % loss, 60 ms jitter, held-back
    /// packets, duplicates) with two stream restarts (sequence and timestamp
    /// jumps), played out once per 20 ms: the buffer never holds more than
    /// its maximum, never plays a frame twice or out of order, and every
    /// packet is accounted for.
    #[test]
    fn bounded_and_in_order_through_a_bad_network() {
        use crate::rtp::impair::{Channel, Impairment};
        use std::time::Duration;
        let cfg = Impairment {
            loss: 0.1,
            jitter_ms: 60,
            reorder: 0.05,
            reorder_ms: 120,
            duplicate: 0.05,
            ..Default::default()
        };
        let mut net: Channel<Duration, (u16, u32, u8)> = Channel::new(cfg, 42);
        let mut jb = JitterBuffer::new(3, 50);
        let (mut seq, mut ts, mut segment) = (65000u16, u32::MAX - 50_000, 0u8);
        let mut last_played: Option<(u8, u64)> = None;
        let mut unwrap = 0u64;
        let mut pushed = 0u64;
        let mut played = 0u64;
        for tick in 0..30_000u64 {
            let now = Duration::from_millis(20 * tick);
            if tick == 10_000 || tick == 20_000 {
                // The sender restarts: new sequence and timestamp bases.
                seq = seq.wrapping_add(30_000);
                ts = ts.wrapping_add(123_456_789);
                segment += 1;
            }
            net.push(now, (seq, ts, segment));
            seq = seq.wrapping_add(1);
            ts = ts.wrapping_add(160);
            while let Some((s, t, g)) = net.poll(now) {
                let mut payload = s.to_be_bytes().to_vec();
                payload.push(g);
                jb.push(s, t, payload);
                pushed += 1;
                assert!(jb.len() <= 50, "buffer over its bound at tick {tick}: {}", jb.len());
            }
            if let Playout::Frame(p) = jb.pop() {
                played += 1;
                let (s, g) = (u16::from_be_bytes([p[0], p[1]]), p[2]);
                let ext = match last_played {
                    Some((lg, prev)) if lg == g => {
                        let prev16 = prev as u16;
                        if s < prev16 && prev16 - s > 30_000 {
                            unwrap += 1 << 16;
                        }
                        unwrap + u64::from(s)
                    }
                    _ => {
                        unwrap = 0;
                        u64::from(s)
                    }
                };
                if let Some((lg, prev)) = last_played {
                    assert!(g >= lg, "an old segment's frame played after a newer one");
                    assert!(g > lg || ext > prev, "frame {s} of segment {g} played after {prev}");
                }
                last_played = Some((g, ext));
            }
        }
        let st = jb.stats();
        assert_eq!(st.received, pushed);
        assert_eq!(st.resyncs, 2, "{st:?}");
        assert!(st.duplicates > 0 && st.reordered > 0 && st.lost > 0 && st.late_dropped > 0, "{st:?}");
        // Frames kept but never played: flushed at the two restarts or still buffered.
        let stored = st.received - st.duplicates - st.late_dropped;
        assert!(stored >= played && stored - played <= 3 * 50, "{st:?} played {played}");
    }

    #[test]
    fn reset_forgets_stream_but_keeps_counters() {
        let mut jb = JitterBuffer::new(1, 10);
        push(&mut jb, 100);
        jb.reset();
        assert!(jb.is_empty());
        assert_eq!(jb.pop(), Playout::Empty);
        push(&mut jb, 7);
        assert_eq!(played(jb.pop()), Some(7));
        assert_eq!(jb.stats().received, 2);
    }
}
