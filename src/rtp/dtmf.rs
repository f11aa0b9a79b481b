//! DTMF: RFC 4733 telephone-event payloads and SIP INFO bodies.

use super::packet::RtpError;

/// Length of one telephone-event block.
const EVENT_LEN: usize = 4;
/// A packet whose timestamp is behind the last reported event by less than
/// this (10 s at the 48 kHz clock) is a straggler of an older event.
const MAX_REORDER_TICKS: u32 = 480_000;
/// Minimum duration of a segment that may be continued by a new segment
/// (RFC 4733 §2.5.1.3 splits events longer than 0xFFFF ticks).
const LONG_SEGMENT_MIN: u16 = 0xF000;

/// One RFC 4733 §2.3 telephone-event block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfEvent {
    /// Event code (0-9, 10 = '*', 11 = '#', 12-15 = 'A'-'D', 16 = flash...).
    pub event: u8,
    /// E bit: this packet ends the event.
    pub end: bool,
    /// Power level in -dBm0 (0..=63).
    pub volume: u8,
    /// Duration so far in RTP timestamp units.
    pub duration: u16,
}

impl DtmfEvent {
    /// Serialises the block (R bit zero).
    pub fn to_bytes(&self) -> [u8; EVENT_LEN] {
        let d = self.duration.to_be_bytes();
        [self.event, (if self.end { 0x80 } else { 0 }) | (self.volume & 0x3F), d[0], d[1]]
    }
}

/// Parses the first telephone-event block of an RTP payload.
pub fn parse_event(payload: &[u8]) -> Result<DtmfEvent, RtpError> {
    match payload {
        [event, flags, d0, d1, ..] => Ok(DtmfEvent {
            event: *event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([*d0, *d1]),
        }),
        _ => Err(RtpError::PayloadTooShort(payload.len())),
    }
}

/// Maps a DTMF event code to its key: 0-9, `*`, `#`, `A`-`D`.
pub fn event_to_char(event: u8) -> Option<char> {
    match event {
        0..=9 => char::from_digit(u32::from(event), 10),
        10 => Some('*'),
        11 => Some('#'),
        12..=15 => Some(char::from(b'A' + (event - 12))),
        _ => None,
    }
}

/// Maps a key (`0`-`9`, `*`, `#`, `A`-`D`, case-insensitive) to its event code.
pub fn char_to_event(c: char) -> Option<u8> {
    match c.to_ascii_uppercase() {
        d @ '0'..='9' => Some(d as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        l @ 'A'..='D' => Some(l as u8 - b'A' + 12),
        _ => None,
    }
}

/// Turns a stream of telephone-event packets into digits, one per event.
///
/// Events are identified by their RTP timestamp, which all packets of an
/// event share: the first packet seen for a new timestamp yields the digit
/// (so a lost start packet is covered by continuation or end packets), and
/// all later packets of that event, including the redundant end packets,
/// yield nothing.
#[derive(Debug, Clone, Default)]
pub struct DtmfDetector {
    last_ts: Option<u32>,
    last_event: u8,
    last_ended: bool,
    last_duration: u16,
}

impl DtmfDetector {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds one telephone-event packet; returns a digit when a new event
    /// starts. Malformed payloads and non-DTMF events yield `None`.
    pub fn on_packet(&mut self, rtp_timestamp: u32, payload: &[u8]) -> Option<char> {
        let ev = parse_event(payload).ok()?;
        if let Some(last) = self.last_ts {
            let delta = rtp_timestamp.wrapping_sub(last);
            if delta == 0 {
                self.last_ended |= ev.end;
                self.last_duration = self.last_duration.max(ev.duration);
                return None;
            }
            let behind = last.wrapping_sub(rtp_timestamp);
            if behind < MAX_REORDER_TICKS {
                // Straggler (e.g. a late end packet) of an older event.
                return None;
            }
            let continues_long_event = ev.event == self.last_event
                && !self.last_ended
                && self.last_duration >= LONG_SEGMENT_MIN
                && delta <= 0x1_0000;
            if continues_long_event {
                self.last_ts = Some(rtp_timestamp);
                self.last_ended = ev.end;
                self.last_duration = ev.duration;
                return None;
            }
        }
        self.last_ts = Some(rtp_timestamp);
        self.last_event = ev.event;
        self.last_ended = ev.end;
        self.last_duration = ev.duration;
        event_to_char(ev.event)
    }
}

/// Parses a SIP INFO DTMF body.
///
/// * `application/dtmf-relay`: `Signal=5\r\nDuration=160` (also `*`, `#`,
///   `A`-`D`, or the numeric codes 10-15);
/// * `application/dtmf`: the bare key, e.g. `5`.
///
/// Content-type parameters are ignored; matching is case-insensitive.
pub fn parse_sip_info(content_type: &str, body: &str) -> Option<char> {
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    if mime.eq_ignore_ascii_case("application/dtmf-relay") {
        body.lines().find_map(|line| {
            let (key, value) = line.split_once('=')?;
            if key.trim().eq_ignore_ascii_case("signal") {
                parse_signal(value)
            } else {
                None
            }
        })
    } else if mime.eq_ignore_ascii_case("application/dtmf") {
        parse_signal(body)
    } else {
        None
    }
}

fn parse_signal(value: &str) -> Option<char> {
    let value = value.trim();
    let mut chars = value.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => char_to_event(c).and_then(event_to_char),
        _ => value.parse::<u8>().ok().and_then(event_to_char),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: u8, end: bool, duration: u16) -> [u8; 4] {
        DtmfEvent { event, end, volume: 10, duration }.to_bytes()
    }

    #[test]
    fn parses_event_fields() {
        let e = parse_event(&[5, 0x80 | 10, 0x01, 0x40]).expect("parse");
        assert_eq!(e, DtmfEvent { event: 5, end: true, volume: 10, duration: 320 });
        let e = parse_event(&[11, 0x0A, 0, 160]).expect("parse");
        assert!(!e.end);
        assert_eq!(e.duration, 160);
        // The reserved bit does not leak into the volume.
        assert_eq!(parse_event(&[1, 0x40 | 7, 0, 0]).expect("parse").volume, 7);
    }

    #[test]
    fn short_payload_is_an_error() {
        assert_eq!(parse_event(&[1, 2, 3]), Err(RtpError::PayloadTooShort(3)));
        assert_eq!(parse_event(&[]), Err(RtpError::PayloadTooShort(0)));
    }

    #[test]
    fn event_round_trips_through_bytes() {
        let e = DtmfEvent { event: 11, end: true, volume: 63, duration: 0xABCD };
        assert_eq!(parse_event(&e.to_bytes()), Ok(e));
    }

    #[test]
    fn maps_event_codes_to_keys() {
        let keys: String = (0..16).filter_map(event_to_char).collect();
        assert_eq!(keys, "0123456789*#ABCD");
        assert_eq!(event_to_char(16), None);
        assert_eq!(event_to_char(255), None);
        for code in 0..16 {
            let c = event_to_char(code).expect("key");
            assert_eq!(char_to_event(c), Some(code));
        }
        assert_eq!(char_to_event('d'), Some(15));
        assert_eq!(char_to_event('x'), None);
    }

    #[test]
    fn detector_emits_one_digit_per_event() {
        let mut d = DtmfDetector::new();
        let ts = 1000;
        let mut digits = Vec::new();
        // start, continuations, 3 redundant end packets
        for payload in [
            ev(5, false, 160),
            ev(5, false, 320),
            ev(5, false, 480),
            ev(5, true, 640),
            ev(5, true, 640),
            ev(5, true, 640),
        ] {
            digits.extend(d.on_packet(ts, &payload));
        }
        assert_eq!(digits, vec!['5']);
    }

    #[test]
    fn detector_reports_repeated_key_as_separate_events() {
        let mut d = DtmfDetector::new();
        let mut digits = Vec::new();
        for (ts, payload) in [
            (1000, ev(1, false, 160)),
            (1000, ev(1, true, 800)),
            (1000, ev(1, true, 800)),
            (3000, ev(1, false, 160)),
            (3000, ev(1, true, 800)),
            (5000, ev(11, true, 800)),
        ] {
            digits.extend(d.on_packet(ts, &payload));
        }
        assert_eq!(digits, vec!['1', '1', '#']);
    }

    #[test]
    fn detector_recovers_digit_when_start_packet_is_lost() {
        let mut d = DtmfDetector::new();
        assert_eq!(d.on_packet(8000, &ev(9, false, 480)), Some('9'));
        assert_eq!(d.on_packet(8000, &ev(9, true, 800)), None);
        // Event whose only surviving packet is an end packet.
        assert_eq!(d.on_packet(9600, &ev(10, true, 800)), Some('*'));
    }

    #[test]
    fn detector_ignores_late_packets_of_previous_event() {
        let mut d = DtmfDetector::new();
        assert_eq!(d.on_packet(1000, &ev(2, false, 160)), Some('2'));
        assert_eq!(d.on_packet(2600, &ev(3, false, 160)), Some('3'));
        // Delayed end packet of the '2' event.
        assert_eq!(d.on_packet(1000, &ev(2, true, 800)), None);
        assert_eq!(d.on_packet(2600, &ev(3, true, 800)), None);
    }

    #[test]
    fn detector_handles_timestamp_wrap() {
        let mut d = DtmfDetector::new();
        assert_eq!(d.on_packet(u32::MAX - 100, &ev(4, true, 800)), Some('4'));
        assert_eq!(d.on_packet(700, &ev(6, false, 160)), Some('6'));
        assert_eq!(d.on_packet(u32::MAX - 100, &ev(4, true, 800)), None);
    }

    #[test]
    fn detector_does_not_repeat_digit_for_long_event_segments() {
        let mut d = DtmfDetector::new();
        assert_eq!(d.on_packet(0, &ev(0, false, 0xFFFF)), Some('0'));
        assert_eq!(d.on_packet(0xFFFF, &ev(0, false, 160)), None);
        assert_eq!(d.on_packet(0xFFFF, &ev(0, true, 800)), None);
        assert_eq!(d.on_packet(0x2_0000, &ev(0, false, 160)), Some('0'));
    }

    /// Twelve key presses as a phone sends them (100 ms tone: a packet every
    /// 20 ms, then three redundant end packets; 100 ms between keys) through
    /// 10 % loss, 60 ms jitter, held-back packets and duplicates, over many
    /// seeds: every key is reported exactly once, in order.
    #[test]
    fn detector_reports_each_key_once_through_a_bad_network() {
        use crate::rtp::impair::{Channel, Impairment};
        use std::time::Duration;
        let keys = "0123456789*#";
        let cfg = Impairment {
            loss: 0.1,
            jitter_ms: 60,
            reorder: 0.05,
            reorder_ms: 60,
            duplicate: 0.05,
            ..Default::default()
        };
        // (send slot of 20 ms, RTP timestamp, payload)
        let mut packets = Vec::new();
        let mut slot = 0u64;
        for (i, key) in keys.chars().enumerate() {
            let code = char_to_event(key).expect("key");
            let ts = 50_000 + i as u32 * 1600;
            for step in 1..=5u16 {
                packets.push((slot, ts, ev(code, false, step * 160)));
                slot += 1;
            }
            for _ in 0..3 {
                packets.push((slot, ts, ev(code, true, 800)));
                slot += 1;
            }
            slot += 2; // two frames of silence before the next key
        }
        for seed in 0..50 {
            let mut net: Channel<Duration, (u32, [u8; 4])> = Channel::new(cfg, seed);
            let mut d = DtmfDetector::new();
            let mut heard = String::new();
            for &(slot, ts, payload) in &packets {
                let now = Duration::from_millis(20 * slot);
                net.push(now, (ts, payload));
                while let Some((ts, p)) = net.poll(now) {
                    heard.extend(d.on_packet(ts, &p));
                }
            }
            while let Some((ts, p)) = net.poll(Duration::MAX) {
                heard.extend(d.on_packet(ts, &p));
            }
            assert_eq!(heard, keys, "seed {seed}: {:?}", net.stats());
        }
    }

    #[test]
    fn detector_ignores_garbage_and_non_dtmf_events() {
        let mut d = DtmfDetector::new();
        assert_eq!(d.on_packet(100, &[1, 2]), None);
        assert_eq!(d.on_packet(200, &ev(16, false, 160)), None); // flash
        assert_eq!(d.on_packet(400, &ev(7, false, 160)), Some('7'));
    }

    #[test]
    fn parses_sip_info_dtmf_relay_bodies() {
        let ct = "application/dtmf-relay";
        assert_eq!(parse_sip_info(ct, "Signal=5\r\nDuration=160\r\n"), Some('5'));
        assert_eq!(parse_sip_info(ct, "Signal=*\r\nDuration=160"), Some('*'));
        assert_eq!(parse_sip_info(ct, "Signal=#\nDuration=250\n"), Some('#'));
        assert_eq!(parse_sip_info(ct, "signal = 1\r\n"), Some('1'));
        assert_eq!(parse_sip_info(ct, "Duration=160\r\nSignal=d"), Some('D'));
        assert_eq!(parse_sip_info(ct, "Signal=10\r\n"), Some('*'));
        assert_eq!(parse_sip_info(ct, "Signal=11\r\n"), Some('#'));
        assert_eq!(parse_sip_info("Application/DTMF-Relay; charset=utf-8", "Signal=3"), Some('3'));
        assert_eq!(parse_sip_info(ct, "Signal=X\r\n"), None);
        assert_eq!(parse_sip_info(ct, "Duration=160"), None);
        assert_eq!(parse_sip_info(ct, ""), None);
    }

    #[test]
    fn parses_sip_info_dtmf_bodies() {
        assert_eq!(parse_sip_info("application/dtmf", "5"), Some('5'));
        assert_eq!(parse_sip_info("application/dtmf", " #\r\n"), Some('#'));
        assert_eq!(parse_sip_info("application/dtmf", "55"), None);
        assert_eq!(parse_sip_info("text/plain", "5"), None);
        assert_eq!(parse_sip_info("application/sdp", "Signal=5"), None);
    }
}
