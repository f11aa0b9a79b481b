//! RTCP wire format (RFC 3550 §6): parsing a compound packet (SR, RR, SDES,
//! BYE; other types skipped) and writing SR / RR / SDES CNAME / BYE.
//!
//! Parsing is bounds-checked throughout and never panics: every length comes
//! from the packet and is checked against the datagram before it is used.

/// Packet types (RFC 3550 §12.1).
pub const PT_SR: u8 = 200;
pub const PT_RR: u8 = 201;
pub const PT_SDES: u8 = 202;
pub const PT_BYE: u8 = 203;
/// SDES item type CNAME.
const SDES_CNAME: u8 = 1;
/// Most report blocks one SR/RR carries (the 5-bit count).
pub const MAX_REPORTS: usize = 31;

/// Errors from parsing RTCP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtcpError {
    /// Shorter than a 4-byte RTCP header.
    #[error("RTCP packet too short: {0} bytes")]
    TooShort(usize),
    /// The version field is not 2.
    #[error("unsupported RTCP version {0}")]
    BadVersion(u8),
    /// A packet's length field runs past the end of the datagram.
    #[error("RTCP length {0} words runs past the datagram")]
    Truncated(usize),
    /// The padding count is zero or larger than the packet.
    #[error("invalid RTCP padding {0}")]
    BadPadding(u8),
    /// A packet's body is shorter than its type and counts require.
    #[error("RTCP packet type {0} too short for its contents")]
    BadBody(u8),
}

/// One reception report block (RFC 3550 §6.4.1): what the report's sender
/// knows about the stream of source `ssrc`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportBlock {
    pub ssrc: u32,
    /// Fraction of packets lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Packets lost since the start (24-bit signed: duplicates can make it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received (cycles << 16 | seq).
    pub highest_seq: u32,
    /// Interarrival jitter in RTP timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR received from `ssrc` (0: none).
    pub lsr: u32,
    /// Delay since that SR was received, in 1/65536 s.
    pub dlsr: u32,
}

/// The sender-info part of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderInfo {
    /// NTP timestamp (seconds since 1900 << 32 | fraction).
    pub ntp: u64,
    /// The same instant in the stream's RTP timestamp clock.
    pub rtp_ts: u32,
    pub packets: u32,
    /// Payload octets sent.
    pub octets: u32,
}

/// One packet of a compound RTCP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    SenderReport {
        ssrc: u32,
        info: SenderInfo,
        reports: Vec<ReportBlock>,
    },
    ReceiverReport {
        ssrc: u32,
        reports: Vec<ReportBlock>,
    },
    /// Source descriptions: (SSRC, CNAME if the chunk has one).
    Sdes(Vec<(u32, Option<String>)>),
    Bye {
        ssrcs: Vec<u32>,
        reason: Option<String>,
    },
    /// APP, feedback, XR… : counted, not read.
    Other(u8),
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Parses a compound RTCP datagram into its packets. Every packet must be
/// version 2 and lie within the datagram; padding is honoured on any packet.
/// RFC 3550 asks that a compound start with SR or RR; reduced-size RTCP
/// (RFC 5506) does not, so that is not enforced.
pub fn parse_compound(buf: &[u8]) -> Result<Vec<Packet>, RtcpError> {
    if buf.len() < 4 {
        return Err(RtcpError::TooShort(buf.len()));
    }
    let mut out = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(RtcpError::TooShort(rest.len()));
        }
        let b0 = rest[0];
        let version = b0 >> 6;
        if version != 2 {
            return Err(RtcpError::BadVersion(version));
        }
        let count = usize::from(b0 & 0x1F);
        let pt = rest[1];
        let words = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        let len = 4 * (words + 1);
        if len > rest.len() {
            return Err(RtcpError::Truncated(words));
        }
        let (pkt, next) = rest.split_at(len);
        rest = next;
        let mut body = &pkt[4..];
        if b0 & 0x20 != 0 {
            let pad = pkt[len - 1];
            if pad == 0 || usize::from(pad) > body.len() {
                return Err(RtcpError::BadPadding(pad));
            }
            body = &body[..body.len() - usize::from(pad)];
        }
        out.push(parse_one(pt, count, body)?);
    }
    Ok(out)
}

fn parse_one(pt: u8, count: usize, body: &[u8]) -> Result<Packet, RtcpError> {
    let bad = || RtcpError::BadBody(pt);
    match pt {
        PT_SR => {
            let ssrc = be_u32(body, 0).ok_or_else(bad)?;
            let info = SenderInfo {
                ntp: (u64::from(be_u32(body, 4).ok_or_else(bad)?) << 32) | u64::from(be_u32(body, 8).ok_or_else(bad)?),
                rtp_ts: be_u32(body, 12).ok_or_else(bad)?,
                packets: be_u32(body, 16).ok_or_else(bad)?,
                octets: be_u32(body, 20).ok_or_else(bad)?,
            };
            let reports = report_blocks(body.get(24..).ok_or_else(bad)?, count).ok_or_else(bad)?;
            Ok(Packet::SenderReport { ssrc, info, reports })
        }
        PT_RR => {
            let ssrc = be_u32(body, 0).ok_or_else(bad)?;
            let reports = report_blocks(body.get(4..).ok_or_else(bad)?, count).ok_or_else(bad)?;
            Ok(Packet::ReceiverReport { ssrc, reports })
        }
        PT_SDES => parse_sdes(body, count).map(Packet::Sdes).ok_or_else(bad),
        PT_BYE => {
            let ssrcs = (0..count).map(|i| be_u32(body, 4 * i)).collect::<Option<Vec<_>>>().ok_or_else(bad)?;
            let reason = body.get(4 * count..).and_then(|r| {
                let (&n, text) = r.split_first()?;
                text.get(..usize::from(n)).map(|t| String::from_utf8_lossy(t).into_owned())
            });
            Ok(Packet::Bye { ssrcs, reason })
        }
        _ => Ok(Packet::Other(pt)),
    }
}

fn report_blocks(b: &[u8], count: usize) -> Option<Vec<ReportBlock>> {
    (0..count)
        .map(|i| {
            let at = 24 * i;
            let lost_word = be_u32(b, at + 4)?;
            let raw = (lost_word & 0x00FF_FFFF) as i32;
            Some(ReportBlock {
                ssrc: be_u32(b, at)?,
                fraction_lost: (lost_word >> 24) as u8,
                cumulative_lost: if raw & 0x0080_0000 != 0 { raw - 0x0100_0000 } else { raw },
                highest_seq: be_u32(b, at + 8)?,
                jitter: be_u32(b, at + 12)?,
                lsr: be_u32(b, at + 16)?,
                dlsr: be_u32(b, at + 20)?,
            })
        })
        .collect()
}

/// SDES chunks: SSRC, then items (type, length, text) up to a zero type,
/// then padding to the next 32-bit boundary.
fn parse_sdes(body: &[u8], count: usize) -> Option<Vec<(u32, Option<String>)>> {
    let mut chunks = Vec::with_capacity(count.min(MAX_REPORTS));
    let mut at = 0usize;
    for _ in 0..count {
        let ssrc = be_u32(body, at)?;
        at += 4;
        let mut cname = None;
        loop {
            let kind = *body.get(at)?;
            if kind == 0 {
                at += 1;
                break;
            }
            let n = usize::from(*body.get(at + 1)?);
            let text = body.get(at + 2..at + 2 + n)?;
            if kind == SDES_CNAME {
                cname = Some(String::from_utf8_lossy(text).into_owned());
            }
            at += 2 + n;
        }
        at = at.next_multiple_of(4);
        chunks.push((ssrc, cname));
    }
    Some(chunks)
}

fn header(out: &mut Vec<u8>, count: usize, pt: u8, body_len: usize) {
    out.push(0x80 | (count.min(MAX_REPORTS) as u8));
    out.push(pt);
    out.extend_from_slice(&((body_len / 4) as u16).to_be_bytes());
}

fn write_blocks(out: &mut Vec<u8>, reports: &[ReportBlock]) {
    for r in reports.iter().take(MAX_REPORTS) {
        out.extend_from_slice(&r.ssrc.to_be_bytes());
        let lost = (r.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32) & 0x00FF_FFFF;
        out.extend_from_slice(&((u32::from(r.fraction_lost) << 24) | lost).to_be_bytes());
        out.extend_from_slice(&r.highest_seq.to_be_bytes());
        out.extend_from_slice(&r.jitter.to_be_bytes());
        out.extend_from_slice(&r.lsr.to_be_bytes());
        out.extend_from_slice(&r.dlsr.to_be_bytes());
    }
}

/// Appends a sender report (at most [`MAX_REPORTS`] blocks).
pub fn write_sr(out: &mut Vec<u8>, ssrc: u32, info: &SenderInfo, reports: &[ReportBlock]) {
    let n = reports.len().min(MAX_REPORTS);
    header(out, n, PT_SR, 24 + 24 * n);
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.extend_from_slice(&info.ntp.to_be_bytes());
    out.extend_from_slice(&info.rtp_ts.to_be_bytes());
    out.extend_from_slice(&info.packets.to_be_bytes());
    out.extend_from_slice(&info.octets.to_be_bytes());
    write_blocks(out, reports);
}

/// Appends a receiver report (at most [`MAX_REPORTS`] blocks).
pub fn write_rr(out: &mut Vec<u8>, ssrc: u32, reports: &[ReportBlock]) {
    let n = reports.len().min(MAX_REPORTS);
    header(out, n, PT_RR, 4 + 24 * n);
    out.extend_from_slice(&ssrc.to_be_bytes());
    write_blocks(out, reports);
}

/// Appends an SDES packet with one chunk: `ssrc` and its CNAME (cut to 255 bytes).
pub fn write_sdes_cname(out: &mut Vec<u8>, ssrc: u32, cname: &str) {
    let mut name = &cname.as_bytes()[..cname.len().min(255)];
    while std::str::from_utf8(name).is_err() {
        name = &name[..name.len() - 1];
    }
    // SSRC, CNAME item (2 + n), at least one zero octet, padded to 32 bits.
    let chunk = (4 + 2 + name.len() + 1).next_multiple_of(4);
    header(out, 1, PT_SDES, chunk);
    out.extend_from_slice(&ssrc.to_be_bytes());
    out.push(SDES_CNAME);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.resize(out.len() + chunk - (4 + 2 + name.len()), 0);
}

/// Appends a BYE for `ssrc` with an optional reason (cut to 255 bytes).
pub fn write_bye(out: &mut Vec<u8>, ssrc: u32, reason: Option<&str>) {
    let reason = reason.map(|r| &r.as_bytes()[..r.len().min(255)]);
    let body = 4 + reason.map_or(0, |r| (1 + r.len()).next_multiple_of(4));
    header(out, 1, PT_BYE, body);
    out.extend_from_slice(&ssrc.to_be_bytes());
    if let Some(r) = reason {
        out.push(r.len() as u8);
        out.extend_from_slice(r);
        out.resize(out.len() + (1 + r.len()).next_multiple_of(4) - (1 + r.len()), 0);
    }
}

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// A wall-clock time as a 64-bit NTP timestamp.
pub fn ntp_from_system(t: std::time::SystemTime) -> u64 {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    ((d.as_secs() + NTP_UNIX_OFFSET) << 32) | frac
}

/// The middle 32 bits of an NTP timestamp (the LSR / RTT unit: 1/65536 s).
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn block(ssrc: u32) -> ReportBlock {
        ReportBlock {
            ssrc,
            fraction_lost: 25,
            cumulative_lost: -3,
            highest_seq: 0x0001_0005,
            jitter: 77,
            lsr: 0xAABB_CCDD,
            dlsr: 65_536,
        }
    }

    #[test]
    fn sr_sdes_bye_compound_round_trips() {
        let info = SenderInfo { ntp: 0xE000_0001_8000_0000, rtp_ts: 160_000, packets: 250, octets: 40_000 };
        let mut buf = Vec::new();
        write_sr(&mut buf, 0x1111, &info, &[block(0x2222)]);
        assert_eq!(buf.len(), 28 + 24, "SR with one block is 52 bytes");
        write_sdes_cname(&mut buf, 0x1111, "sori@127.0.0.1");
        write_bye(&mut buf, 0x1111, Some("call ended"));
        assert_eq!(buf.len() % 4, 0);
        let got = parse_compound(&buf).expect("parse");
        assert_eq!(
            got,
            vec![
                Packet::SenderReport { ssrc: 0x1111, info, reports: vec![block(0x2222)] },
                Packet::Sdes(vec![(0x1111, Some("sori@127.0.0.1".into()))]),
                Packet::Bye { ssrcs: vec![0x1111], reason: Some("call ended".into()) },
            ]
        );
    }

    #[test]
    fn rr_round_trips_and_cumulative_loss_saturates_at_24_bits() {
        let mut b = block(7);
        b.cumulative_lost = 50_000_000;
        let mut buf = Vec::new();
        write_rr(&mut buf, 9, &[b, block(8)]);
        let Packet::ReceiverReport { ssrc, reports } = &parse_compound(&buf).expect("parse")[0] else {
            panic!("not an RR")
        };
        assert_eq!((*ssrc, reports.len()), (9, 2));
        assert_eq!(reports[0].cumulative_lost, 0x7F_FFFF);
        assert_eq!(reports[1], block(8));
        b.cumulative_lost = -50_000_000;
        buf.clear();
        write_rr(&mut buf, 9, &[b]);
        let Packet::ReceiverReport { reports, .. } = &parse_compound(&buf).expect("parse")[0] else { panic!() };
        assert_eq!(reports[0].cumulative_lost, -0x80_0000);
    }

    #[test]
    fn sdes_cname_lengths_pad_to_words() {
        for n in 0..12 {
            let name = "x".repeat(n);
            let mut buf = Vec::new();
            write_sdes_cname(&mut buf, 1, &name);
            assert_eq!(buf.len() % 4, 0, "cname of {n}");
            assert_eq!(parse_compound(&buf).expect("parse"), vec![Packet::Sdes(vec![(1, Some(name))])]);
        }
    }

    #[test]
    fn parses_a_baresip_style_rr_with_two_sdes_items_and_skips_app() {
        // RR (no blocks), SDES with CNAME and NAME items, then an APP packet.
        let mut buf = vec![0x80, PT_RR, 0, 1, 0, 0, 0, 5];
        buf.extend_from_slice(&[0x81, PT_SDES, 0, 4, 0, 0, 0, 5, 1, 3, b'a', b'b', b'c', 2, 2, b'x', b'y', 0, 0, 0]);
        buf.extend_from_slice(&[0x80, 204, 0, 2, 0, 0, 0, 5, b'n', b'a', b'm', b'e']);
        let got = parse_compound(&buf).expect("parse");
        assert_eq!(
            got,
            vec![
                Packet::ReceiverReport { ssrc: 5, reports: vec![] },
                Packet::Sdes(vec![(5, Some("abc".into()))]),
                Packet::Other(204),
            ]
        );
    }

    #[test]
    fn rejects_truncations_bad_versions_and_bad_padding() {
        let mut buf = Vec::new();
        write_rr(&mut buf, 9, &[block(1)]);
        for len in 0..buf.len() {
            assert!(parse_compound(&buf[..len]).is_err(), "truncated to {len} parsed");
        }
        let mut v1 = buf.clone();
        v1[0] = 0x40 | 1;
        assert_eq!(parse_compound(&v1), Err(RtcpError::BadVersion(1)));
        // A count claiming more blocks than the length holds.
        let mut more = buf.clone();
        more[0] = 0x80 | 2;
        assert_eq!(parse_compound(&more), Err(RtcpError::BadBody(PT_RR)));
        // Padding bit with a zero or oversized count.
        let mut pad = buf.clone();
        pad[0] |= 0x20;
        *pad.last_mut().expect("bytes") = 0;
        assert_eq!(parse_compound(&pad), Err(RtcpError::BadPadding(0)));
        *pad.last_mut().expect("bytes") = 200;
        assert_eq!(parse_compound(&pad), Err(RtcpError::BadPadding(200)));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x7c9);
        let mut good = Vec::new();
        write_sr(&mut good, 1, &SenderInfo::default(), &[block(2)]);
        write_sdes_cname(&mut good, 1, "cname");
        write_bye(&mut good, 1, Some("bye"));
        for _ in 0..20_000 {
            let mut buf = if rng.gen_bool(0.5) {
                (0..rng.gen_range(0..96)).map(|_| rng.gen::<u8>()).collect::<Vec<u8>>()
            } else {
                good.clone()
            };
            // Flip a few bytes of a valid compound, or force version 2 on garbage.
            for _ in 0..rng.gen_range(1..4) {
                if !buf.is_empty() {
                    let i = rng.gen_range(0..buf.len());
                    buf[i] = rng.gen();
                }
            }
            if let Some(b) = buf.first_mut() {
                *b = (*b & 0x3F) | 0x80;
            }
            let _ = parse_compound(&buf);
        }
    }

    #[test]
    fn ntp_time_of_the_unix_epoch_and_its_middle_bits() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1500);
        let ntp = ntp_from_system(t);
        assert_eq!(ntp >> 32, NTP_UNIX_OFFSET + 1);
        assert_eq!(ntp as u32, 0x8000_0000, "half a second");
        assert_eq!(ntp_middle(ntp), (((NTP_UNIX_OFFSET + 1) as u32) << 16) | 0x8000);
    }
}
