//! RTP packet parsing and building (RFC 3550 §5.1).

/// Fixed RTP header length in bytes.
pub const RTP_HEADER_LEN: usize = 12;

/// Errors from parsing RTP packets or RTP payload formats.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtpError {
    /// Shorter than the fixed 12-byte header.
    #[error("packet too short: {0} bytes")]
    TooShort(usize),
    /// The version field is not 2.
    #[error("unsupported RTP version {0}")]
    BadVersion(u8),
    /// The CSRC list runs past the end of the packet.
    #[error("CSRC list truncated")]
    TruncatedCsrc,
    /// The header extension runs past the end of the packet.
    #[error("header extension truncated")]
    TruncatedExtension,
    /// The padding count is zero or larger than the payload.
    #[error("invalid padding length {0}")]
    BadPadding(u8),
    /// A payload format (e.g. telephone-event) is shorter than required.
    #[error("payload too short: {0} bytes")]
    PayloadTooShort(usize),
}

/// A parsed RTP packet borrowing its payload from the input buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub payload_type: u8,
    pub marker: bool,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// Payload with CSRCs, header extension and padding removed.
    pub payload: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    /// Parses an RTP packet. See [`parse`].
    pub fn parse(buf: &'a [u8]) -> Result<RtpPacket<'a>, RtpError> {
        parse(buf)
    }
}

fn be_u16(buf: &[u8], at: usize) -> Option<u16> {
    let b = buf.get(at..at + 2)?;
    Some(u16::from_be_bytes([b[0], b[1]]))
}

fn be_u32(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Parses an RTP packet: checks version 2, skips the CSRC list and any
/// header extension, strips padding and rejects truncated packets.
pub fn parse(buf: &[u8]) -> Result<RtpPacket<'_>, RtpError> {
    if buf.len() < RTP_HEADER_LEN {
        return Err(RtpError::TooShort(buf.len()));
    }
    let b0 = buf[0];
    let version = b0 >> 6;
    if version != 2 {
        return Err(RtpError::BadVersion(version));
    }
    let has_padding = b0 & 0x20 != 0;
    let has_extension = b0 & 0x10 != 0;
    let csrc_count = usize::from(b0 & 0x0F);
    let b1 = buf[1];
    let marker = b1 & 0x80 != 0;
    let payload_type = b1 & 0x7F;
    let sequence = be_u16(buf, 2).ok_or(RtpError::TooShort(buf.len()))?;
    let timestamp = be_u32(buf, 4).ok_or(RtpError::TooShort(buf.len()))?;
    let ssrc = be_u32(buf, 8).ok_or(RtpError::TooShort(buf.len()))?;

    let mut offset = RTP_HEADER_LEN + 4 * csrc_count;
    if offset > buf.len() {
        return Err(RtpError::TruncatedCsrc);
    }
    if has_extension {
        // 16-bit profile-defined id, 16-bit length in 32-bit words.
        let words = be_u16(buf, offset + 2).ok_or(RtpError::TruncatedExtension)?;
        offset += 4 + 4 * usize::from(words);
        if offset > buf.len() {
            return Err(RtpError::TruncatedExtension);
        }
    }
    let mut end = buf.len();
    if has_padding {
        let pad = buf[end - 1];
        let pad_len = usize::from(pad);
        if pad_len == 0 || pad_len > end - offset {
            return Err(RtpError::BadPadding(pad));
        }
        end -= pad_len;
    }
    Ok(RtpPacket { payload_type, marker, sequence, timestamp, ssrc, payload: &buf[offset..end] })
}

/// Appends an RTP packet (version 2, no padding/extension/CSRC) to `out`.
/// `out` is not cleared first. `pt` is masked to 7 bits.
pub fn write_rtp(out: &mut Vec<u8>, pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) {
    out.reserve(RTP_HEADER_LEN + payload.len());
    out.push(0x80);
    out.push((pt & 0x7F) | if marker { 0x80 } else { 0 });
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&ts.to_be_bytes());
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(payload);
}

/// True when `buf` looks like RTCP rather than RTP on a multiplexed port
/// (RFC 5761 §4): version 2 and a second octet in 192..=223, which covers
/// the RTCP packet types SR/RR/SDES/BYE/APP (200..=204) and the feedback/XR
/// types, and never collides with RTP payload types 0..=63 / 96..=127.
pub fn is_rtcp(buf: &[u8]) -> bool {
    match buf {
        [b0, b1, ..] => b0 >> 6 == 2 && (192..=223).contains(b1),
        _ => false,
    }
}

/// Stateful sender of one RTP stream: owns SSRC, sequence number and
/// timestamp, and sets the marker bit at the start of each talkspurt.
#[derive(Debug, Clone)]
pub struct RtpSender {
    ssrc: u32,
    seq: u16,
    ts: u32,
    pt: u8,
    ts_step: u32,
    marker_pending: bool,
    /// Packets and payload octets sent (wrapping), for RTCP sender reports.
    packets: u32,
    octets: u32,
}

impl RtpSender {
    /// Creates a sender with random SSRC, initial sequence number and
    /// timestamp (RFC 3550 §5.1). `ts_step` is the timestamp increment of
    /// one frame (e.g. 160 for 20 ms of PCMU, 960 for 20 ms of Opus).
    pub fn new(pt: u8, ts_step: u32) -> Self {
        Self::with_initial(pt, ts_step, rand::random(), rand::random(), rand::random())
    }

    /// Creates a sender with explicit initial values (tests, reproducibility).
    pub fn with_initial(pt: u8, ts_step: u32, ssrc: u32, seq: u16, ts: u32) -> Self {
        Self { ssrc, seq, ts, pt: pt & 0x7F, ts_step, marker_pending: true, packets: 0, octets: 0 }
    }

    /// Clears `out` and writes the next packet into it. The marker bit is set
    /// on the first packet and on the first packet after
    /// [`mark_talkspurt`](Self::mark_talkspurt). Sequence and timestamp then
    /// advance by one packet / one frame (both wrap).
    pub fn next_packet(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        out.clear();
        write_rtp(out, self.pt, self.marker_pending, self.seq, self.ts, self.ssrc, payload);
        self.marker_pending = false;
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(self.ts_step);
        self.count(payload.len());
    }

    fn count(&mut self, payload: usize) {
        self.packets = self.packets.wrapping_add(1);
        self.octets = self.octets.wrapping_add(payload as u32);
    }

    /// Packets and payload octets sent so far (RTCP SR sender info).
    pub fn sent(&self) -> (u32, u32) {
        (self.packets, self.octets)
    }

    /// Clears `out` and writes a packet with an explicit payload type, marker
    /// and timestamp, consuming a sequence number but leaving the stream
    /// timestamp alone. Used for RFC 4733 events, whose packets all carry
    /// the event's start timestamp.
    pub fn next_packet_with(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8], out: &mut Vec<u8>) {
        out.clear();
        write_rtp(out, pt, marker, self.seq, ts, self.ssrc, payload);
        self.seq = self.seq.wrapping_add(1);
        self.count(payload.len());
    }

    /// Advances the timestamp by one frame without sending (silence gap).
    pub fn skip(&mut self) {
        self.ts = self.ts.wrapping_add(self.ts_step);
    }

    /// Sets the marker bit on the next packet (start of a talkspurt).
    pub fn mark_talkspurt(&mut self) {
        self.marker_pending = true;
    }

    /// Changes the payload type used by [`next_packet`](Self::next_packet).
    pub fn set_payload_type(&mut self, pt: u8) {
        self.pt = pt & 0x7F;
    }

    /// Changes the per-frame timestamp increment (e.g. after a codec change).
    pub fn set_ts_step(&mut self, ts_step: u32) {
        self.ts_step = ts_step;
    }

    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Sequence number the next packet will carry.
    pub fn sequence(&self) -> u16 {
        self.seq
    }

    /// Timestamp the next packet will carry.
    pub fn timestamp(&self) -> u32 {
        self.ts
    }

    pub fn payload_type(&self) -> u8 {
        self.pt
    }

    pub fn ts_step(&self) -> u32 {
        self.ts_step
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn sample_packet() -> Vec<u8> {
        let mut buf = Vec::new();
        write_rtp(&mut buf, 0, true, 0x1234, 0xDEAD_BEEF, 0x0102_0304, &[1, 2, 3, 4]);
        buf
    }

    #[test]
    fn write_then_parse_round_trips_all_fields() {
        let buf = sample_packet();
        assert_eq!(buf.len(), 16);
        let p = parse(&buf).expect("parse");
        assert_eq!(p.payload_type, 0);
        assert!(p.marker);
        assert_eq!(p.sequence, 0x1234);
        assert_eq!(p.timestamp, 0xDEAD_BEEF);
        assert_eq!(p.ssrc, 0x0102_0304);
        assert_eq!(p.payload, &[1, 2, 3, 4]);
        assert_eq!(RtpPacket::parse(&buf), Ok(p));
    }

    #[test]
    fn write_rtp_appends_to_existing_bytes() {
        let mut buf = vec![0xAA];
        write_rtp(&mut buf, 101, false, 1, 2, 3, &[9]);
        assert_eq!(buf[0], 0xAA);
        assert_eq!(buf[2], 101);
        assert_eq!(buf.len(), 1 + 12 + 1);
    }

    #[test]
    fn rejects_wrong_version() {
        let mut buf = sample_packet();
        buf[0] = 0x40; // version 1
        assert_eq!(parse(&buf), Err(RtpError::BadVersion(1)));
    }

    #[test]
    fn skips_csrc_list() {
        let mut buf = sample_packet();
        buf[0] |= 2; // CC = 2
        buf.splice(12..12, [0u8; 8]);
        let p = parse(&buf).expect("parse");
        assert_eq!(p.payload, &[1, 2, 3, 4]);
        // Claiming more CSRCs than present is truncation.
        buf[0] = (buf[0] & 0xF0) | 0x0F;
        assert_eq!(parse(&buf), Err(RtpError::TruncatedCsrc));
    }

    #[test]
    fn skips_header_extension() {
        let mut buf = sample_packet();
        buf[0] |= 0x10;
        // profile 0xBEDE, length 1 word, then 4 bytes of extension data.
        buf.splice(12..12, [0xBE, 0xDE, 0x00, 0x01, 0x10, 0xAA, 0x00, 0x00]);
        let p = parse(&buf).expect("parse");
        assert_eq!(p.payload, &[1, 2, 3, 4]);
        // Extension length pointing past the end.
        buf[15] = 0x09;
        assert_eq!(parse(&buf), Err(RtpError::TruncatedExtension));
    }

    #[test]
    fn strips_padding() {
        let mut buf = sample_packet();
        buf[0] |= 0x20;
        buf.extend_from_slice(&[0, 0, 3]);
        let p = parse(&buf).expect("parse");
        assert_eq!(p.payload, &[1, 2, 3, 4]);
    }

    #[test]
    fn rejects_invalid_padding() {
        let mut buf = sample_packet();
        buf[0] |= 0x20;
        *buf.last_mut().expect("non-empty") = 0;
        assert_eq!(parse(&buf), Err(RtpError::BadPadding(0)));
        *buf.last_mut().expect("non-empty") = 200;
        assert_eq!(parse(&buf), Err(RtpError::BadPadding(200)));
    }

    #[test]
    fn rejects_every_truncation_of_the_header_and_never_panics() {
        let mut buf = sample_packet();
        buf[0] |= 0x10 | 0x01 | 0x20;
        buf.splice(12..12, [9u8; 4]); // CSRC
        buf.splice(16..16, [0xBE, 0xDE, 0x00, 0x01, 1, 2, 3, 4]); // extension
        buf.extend_from_slice(&[0, 2]); // 2 bytes of padding
        let full = parse(&buf).expect("full packet parses");
        assert_eq!(full.payload, &[1, 2, 3, 4]);
        for len in 0..buf.len() {
            // Must not panic; truncations inside the header are errors.
            let r = parse(&buf[..len]);
            if len < 24 {
                assert!(r.is_err(), "truncated to {len} parsed: {r:?}");
            }
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        let mut buf = Vec::new();
        for _ in 0..20_000 {
            let len = rng.gen_range(0..64);
            buf.clear();
            buf.extend((0..len).map(|_| rng.gen::<u8>()));
            if rng.gen_bool(0.5) && !buf.is_empty() {
                buf[0] = (buf[0] & 0x3F) | 0x80; // force version 2 half the time
            }
            if let Ok(p) = parse(&buf) {
                assert!(p.payload.len() + RTP_HEADER_LEN <= buf.len());
            }
            let _ = is_rtcp(&buf);
        }
    }

    #[test]
    fn classifies_rtcp_by_packet_type() {
        let sr = [0x80, 200, 0, 6];
        let rr = [0x81, 201, 0, 7];
        let bye = [0x81, 203, 0, 1];
        assert!(is_rtcp(&sr));
        assert!(is_rtcp(&rr));
        assert!(is_rtcp(&bye));
        // RTP PCMU with and without marker, and dynamic PTs with marker.
        assert!(!is_rtcp(&sample_packet()));
        assert!(!is_rtcp(&[0x80, 0x00]));
        assert!(!is_rtcp(&[0x80, 0x80 | 8]));
        assert!(!is_rtcp(&[0x80, 0x80 | 101]));
        assert!(!is_rtcp(&[0x80, 0x80 | 111]));
        assert!(!is_rtcp(&[0x80]));
        assert!(!is_rtcp(&[0x00, 200])); // wrong version
    }

    #[test]
    fn sender_sets_marker_on_first_packet_only() {
        let mut s = RtpSender::with_initial(8, 160, 42, 100, 1000);
        let mut out = Vec::new();
        s.next_packet(&[1], &mut out);
        let p = parse(&out).expect("parse");
        assert!(p.marker);
        assert_eq!((p.payload_type, p.sequence, p.timestamp, p.ssrc), (8, 100, 1000, 42));
        s.next_packet(&[2], &mut out);
        let p = parse(&out).expect("parse");
        assert!(!p.marker);
        assert_eq!((p.sequence, p.timestamp), (101, 1160));
        assert_eq!(p.payload, &[2]);
        s.next_packet_with(101, true, 0, &[1, 2, 3, 4], &mut out);
        assert_eq!(s.sent(), (3, 6), "packets and payload octets for the SR");
    }

    #[test]
    fn sender_marks_talkspurt_after_skipped_frames() {
        let mut s = RtpSender::with_initial(0, 160, 1, 10, 0);
        let mut out = Vec::new();
        s.next_packet(&[0], &mut out);
        s.skip();
        s.skip();
        s.mark_talkspurt();
        s.next_packet(&[0], &mut out);
        let p = parse(&out).expect("parse");
        assert!(p.marker);
        assert_eq!(p.sequence, 11, "skipping must not consume sequence numbers");
        assert_eq!(p.timestamp, 3 * 160);
    }

    #[test]
    fn sender_wraps_sequence_and_timestamp() {
        let mut s = RtpSender::with_initial(0, 160, 1, u16::MAX, u32::MAX - 100);
        let mut out = Vec::new();
        s.next_packet(&[], &mut out);
        assert_eq!(parse(&out).expect("parse").sequence, u16::MAX);
        s.next_packet(&[], &mut out);
        let p = parse(&out).expect("parse");
        assert_eq!(p.sequence, 0);
        assert_eq!(p.timestamp, (u32::MAX - 100).wrapping_add(160));
    }

    #[test]
    fn sender_payload_type_change_applies_to_next_packet() {
        let mut s = RtpSender::with_initial(0, 160, 1, 1, 1);
        let mut out = Vec::new();
        s.set_payload_type(101);
        s.next_packet(&[0], &mut out);
        assert_eq!(parse(&out).expect("parse").payload_type, 101);
        assert_eq!(out.len(), 13, "next_packet must clear the buffer first");
    }

    #[test]
    fn event_packets_keep_stream_timestamp() {
        let mut s = RtpSender::with_initial(0, 160, 1, 5, 800);
        let mut out = Vec::new();
        s.next_packet_with(101, true, 640, &[1, 0, 0, 160], &mut out);
        let p = parse(&out).expect("parse");
        assert_eq!((p.payload_type, p.marker, p.sequence, p.timestamp), (101, true, 5, 640));
        assert_eq!(s.sequence(), 6);
        assert_eq!(s.timestamp(), 800);
    }

    #[test]
    fn new_sender_randomises_initial_state() {
        let a = RtpSender::new(0, 160);
        let b = RtpSender::new(0, 160);
        // Probability of all three colliding is negligible.
        assert!(a.ssrc() != b.ssrc() || a.sequence() != b.sequence() || a.timestamp() != b.timestamp());
        assert_eq!(a.payload_type(), 0);
        assert_eq!(a.ts_step(), 160);
    }
}
