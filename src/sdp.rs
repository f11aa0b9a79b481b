//! SDP (RFC 4566) parsing and offer/answer (RFC 3264) for a UAS that answers
//! audio offers.
//!
//! Only what an audio-only agent needs is modelled; unknown lines and
//! attributes are ignored. Line endings may be `\r\n` or `\n`.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use crate::codec::CodecKind;
use crate::rtp::srtp::{Crypto, MasterKey, Suite};

/// SDP parsing and negotiation errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdpError {
    /// The body contains no SDP lines.
    #[error("empty SDP body")]
    Empty,
    /// A line could not be parsed; `line` is 1-based.
    #[error("SDP line {line}: {reason}")]
    Malformed { line: usize, reason: String },
    /// No usable audio stream with a codec we support (SIP 488).
    #[error("no common audio codec")]
    NoCommonCodec,
}

/// Media direction attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    /// The SDP attribute name (`sendrecv`, ...).
    pub fn as_str(&self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction to answer with for an offered direction (RFC 3264 §6.1).
    pub fn reverse(&self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    /// Whether media flows from the side holding this direction.
    pub fn sends(&self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    /// Whether the side holding this direction accepts media.
    pub fn receives(&self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    fn from_attr(name: &str) -> Option<Direction> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

/// `a=rtpmap:<pt> <encoding>/<clock_rate>[/<channels>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub pt: u8,
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u8>,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// Media type, e.g. `audio`.
    pub media: String,
    pub port: u16,
    /// Transport, e.g. `RTP/AVP`.
    pub proto: String,
    /// RTP payload types (empty for non-RTP transports).
    pub formats: Vec<u8>,
    /// The format tokens exactly as offered (used when rejecting a stream).
    pub raw_formats: Vec<String>,
    pub rtpmaps: Vec<RtpMap>,
    pub fmtps: Vec<(u8, String)>,
    /// Media-level `c=` address.
    pub connection: Option<IpAddr>,
    /// Media direction (media attribute, else session attribute, else sendrecv).
    pub direction: Direction,
    pub ptime: Option<u32>,
    /// `a=rtcp-mux` (RFC 5761): RTCP shares the RTP port.
    pub rtcp_mux: bool,
    /// `a=rtcp:<port>` (RFC 3605); without it RTCP is on the RTP port + 1.
    pub rtcp_port: Option<u16>,
    /// SDES `a=crypto` lines sori can use (RFC 4568), in the offerer's order.
    pub crypto: Vec<Crypto>,
}

impl MediaDescription {
    /// The rtpmap for `pt`, if any.
    pub fn rtpmap(&self, pt: u8) -> Option<&RtpMap> {
        self.rtpmaps.iter().find(|m| m.pt == pt)
    }

    /// The fmtp parameters for `pt`, if any.
    pub fn fmtp(&self, pt: u8) -> Option<&str> {
        self.fmtps.iter().find(|(p, _)| *p == pt).map(|(_, s)| s.as_str())
    }

    /// Whether the transport is plain RTP.
    fn is_plain_rtp(&self) -> bool {
        self.proto.eq_ignore_ascii_case("RTP/AVP") || self.proto.eq_ignore_ascii_case("RTP/AVPF")
    }

    /// Whether the transport is SRTP keyed by SDES (`RTP/SAVP`, `RTP/SAVPF`).
    fn is_srtp(&self) -> bool {
        self.proto.eq_ignore_ascii_case("RTP/SAVP") || self.proto.eq_ignore_ascii_case("RTP/SAVPF")
    }

    /// The codec a payload type maps to: by rtpmap when present (name and
    /// clock rate must match; Opus must be `opus/48000/2`), else by static PT.
    fn codec_for(&self, pt: u8) -> Option<CodecKind> {
        match self.rtpmap(pt) {
            Some(map) => {
                let kind = CodecKind::from_name(&map.encoding)?;
                if map.clock_rate != kind.clock_rate() {
                    return None;
                }
                let channels_ok = match kind {
                    CodecKind::Opus => map.channels == Some(2),
                    CodecKind::Pcmu | CodecKind::Pcma => map.channels.unwrap_or(1) == 1,
                };
                channels_ok.then_some(kind)
            }
            None => match pt {
                0 => Some(CodecKind::Pcmu),
                8 => Some(CodecKind::Pcma),
                _ => None,
            },
        }
    }

    /// The telephone-event payload type with the given clock rate.
    fn telephone_event_pt(&self, clock_rate: u32) -> Option<u8> {
        self.formats.iter().copied().find(|&pt| {
            self.rtpmap(pt)
                .is_some_and(|m| m.encoding.eq_ignore_ascii_case("telephone-event") && m.clock_rate == clock_rate)
        })
    }
}

/// A parsed session description.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionDescription {
    /// Unicast address from `o=` (None when it is a hostname).
    pub origin_addr: Option<IpAddr>,
    /// `<sess-id>` from `o=`.
    pub session_id: Option<String>,
    /// `<sess-version>` from `o=`; an unchanged version in a re-offer means
    /// the session did not change.
    pub session_version: Option<u64>,
    /// `s=` value.
    pub session_name: Option<String>,
    /// Session-level `c=` address.
    pub connection: Option<IpAddr>,
    /// Session-level direction attribute, if present.
    pub direction: Option<Direction>,
    pub media: Vec<MediaDescription>,
}

/// Parses an SDP body. Tolerates `\n` line endings, blank lines and unknown
/// lines/attributes; malformed known lines give an error naming the line.
pub fn parse(text: &str) -> Result<SessionDescription, SdpError> {
    let mut sd = SessionDescription::default();
    // Direction attributes seen per media section, resolved at the end.
    let mut media_dirs: Vec<Option<Direction>> = Vec::new();
    let mut saw_line = false;

    for (idx, raw) in text.split('\n').enumerate() {
        let line_no = idx + 1;
        let line = raw.trim_end();
        if line.trim_start().is_empty() {
            continue;
        }
        saw_line = true;
        let err = |reason: &str| SdpError::Malformed { line: line_no, reason: reason.to_string() };
        let bytes = line.as_bytes();
        // bytes[1] == b'=' implies bytes[0] is ASCII, so slicing at 2 is safe.
        if bytes.len() < 2 || bytes[1] != b'=' {
            return Err(err("expected <type>=<value>"));
        }
        let value = &line[2..];
        match bytes[0] {
            b'v' if value.trim() != "0" => return Err(err("unsupported SDP version")),
            b'o' => {
                let f: Vec<&str> = value.split_whitespace().collect();
                if f.len() != 6 {
                    return Err(err("o= needs 6 fields"));
                }
                sd.session_id = Some(f[1].to_string());
                sd.session_version = f[2].parse().ok();
                sd.origin_addr = f[5].parse().ok();
            }
            b's' => sd.session_name = Some(value.to_string()),
            b'c' => {
                let addr = parse_connection(value).map_err(err)?;
                match sd.media.last_mut() {
                    Some(m) => m.connection = Some(addr),
                    None => sd.connection = Some(addr),
                }
            }
            b'm' => {
                sd.media.push(parse_media_line(value).map_err(err)?);
                media_dirs.push(None);
            }
            b'a' => {
                let (name, arg) = match value.split_once(':') {
                    Some((n, a)) => (n.trim(), Some(a.trim())),
                    None => (value.trim(), None),
                };
                if let Some(dir) = Direction::from_attr(name) {
                    match media_dirs.last_mut() {
                        Some(d) => *d = Some(dir),
                        None => sd.direction = Some(dir),
                    }
                } else if let Some(m) = sd.media.last_mut() {
                    let read = parse_media_attribute(m, name, arg);
                    // A stream we never answer (video, image…) may carry an
                    // attribute we cannot read (RFC 4475's `a=rtpmap:31 LPC`):
                    // that must not cost the call its audio.
                    if m.media.eq_ignore_ascii_case("audio") {
                        read.map_err(err)?;
                    }
                }
            }
            _ => {}
        }
    }
    if !saw_line {
        return Err(SdpError::Empty);
    }
    for (m, dir) in sd.media.iter_mut().zip(media_dirs) {
        m.direction = dir.or(sd.direction).unwrap_or(Direction::SendRecv);
    }
    Ok(sd)
}

fn parse_connection(value: &str) -> Result<IpAddr, &'static str> {
    let f: Vec<&str> = value.split_whitespace().collect();
    let [nettype, _addrtype, address] = f.as_slice() else {
        return Err("c= needs 3 fields");
    };
    if !nettype.eq_ignore_ascii_case("IN") {
        return Err("unsupported network type");
    }
    // Strip multicast "/ttl[/count]" suffixes.
    let host = address.split('/').next().unwrap_or_default();
    host.parse().map_err(|_| "connection address is not an IP address")
}

fn parse_media_line(value: &str) -> Result<MediaDescription, &'static str> {
    let f: Vec<&str> = value.split_whitespace().collect();
    if f.len() < 3 {
        return Err("m= needs media, port and proto");
    }
    let port_str = f[1].split('/').next().unwrap_or_default();
    let port: u16 = port_str.parse().map_err(|_| "invalid port")?;
    let proto = f[2].to_string();
    let raw_formats: Vec<String> = f[3..].iter().map(|s| s.to_string()).collect();
    let formats = if proto.to_ascii_uppercase().contains("RTP/") {
        raw_formats
            .iter()
            .map(|s| match s.parse::<u8>() {
                Ok(pt) if pt < 128 => Ok(pt),
                _ => Err("invalid RTP payload type"),
            })
            .collect::<Result<Vec<u8>, _>>()?
    } else {
        Vec::new()
    };
    Ok(MediaDescription {
        media: f[0].to_string(),
        port,
        proto,
        formats,
        raw_formats,
        rtpmaps: Vec::new(),
        fmtps: Vec::new(),
        connection: None,
        direction: Direction::SendRecv,
        ptime: None,
        rtcp_mux: false,
        rtcp_port: None,
        crypto: Vec::new(),
    })
}

fn parse_media_attribute(m: &mut MediaDescription, name: &str, arg: Option<&str>) -> Result<(), &'static str> {
    let rtp = !m.formats.is_empty();
    match (name, arg) {
        ("rtpmap", Some(arg)) if rtp => {
            let (pt, desc) = arg.split_once(' ').ok_or("rtpmap needs <pt> <encoding>")?;
            let pt: u8 = pt.trim().parse().map_err(|_| "invalid rtpmap payload type")?;
            let mut parts = desc.trim().split('/');
            let encoding = parts.next().unwrap_or_default().trim();
            if encoding.is_empty() {
                return Err("rtpmap missing encoding name");
            }
            let clock_rate: u32 = parts
                .next()
                .ok_or("rtpmap missing clock rate")?
                .trim()
                .parse()
                .map_err(|_| "invalid rtpmap clock rate")?;
            let channels = match parts.next() {
                Some(c) => Some(c.trim().parse().map_err(|_| "invalid rtpmap channels")?),
                None => None,
            };
            m.rtpmaps.push(RtpMap { pt, encoding: encoding.to_string(), clock_rate, channels });
        }
        ("rtpmap", None) if rtp => return Err("rtpmap without value"),
        ("fmtp", Some(arg)) if rtp => {
            let (pt, params) = arg.split_once(' ').unwrap_or((arg, ""));
            let pt: u8 = pt.trim().parse().map_err(|_| "invalid fmtp payload type")?;
            m.fmtps.push((pt, params.trim().to_string()));
        }
        ("ptime", Some(arg)) => {
            let ms: f64 = arg.parse().map_err(|_| "invalid ptime")?;
            if !(ms.is_finite() && ms > 0.0 && ms < 10_000.0) {
                return Err("invalid ptime");
            }
            m.ptime = Some(ms.round() as u32);
        }
        ("rtcp-mux", _) => m.rtcp_mux = true,
        // A crypto line sori cannot use (another suite, an MKI) is passed over.
        ("crypto", Some(arg)) => m.crypto.extend(Crypto::parse(arg)),
        // Only the port is used (the address is the stream's); a value we
        // cannot read leaves RTCP on port + 1 rather than failing the call.
        ("rtcp", Some(arg)) => {
            m.rtcp_port = arg.split_whitespace().next().and_then(|p| p.parse().ok()).filter(|p| *p != 0);
        }
        _ => {}
    }
    Ok(())
}

/// When media is encrypted (`[rtp] srtp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SrtpPolicy {
    /// Plain RTP only: SRTP offers are refused (488).
    Plain,
    /// SRTP (SDES) when the caller offers it, plain RTP otherwise.
    #[default]
    Offer,
    /// SRTP only: a plain RTP offer is refused (488).
    Require,
}

impl SrtpPolicy {
    pub fn from_name(s: &str) -> Option<SrtpPolicy> {
        match s {
            "plain" => Some(SrtpPolicy::Plain),
            "offer" => Some(SrtpPolicy::Offer),
            "require" => Some(SrtpPolicy::Require),
            _ => None,
        }
    }
}

/// What this agent supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCaps {
    /// Enabled codecs (order is only used for tie-breaking; the offerer's
    /// preference order wins).
    pub codecs: Vec<CodecKind>,
    /// Whether to accept RFC 4733 telephone-event.
    pub telephone_event: bool,
    pub srtp: SrtpPolicy,
}

/// The SRTP keys of a call negotiated by SDES: each side sends with its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtpKeys {
    pub suite: Suite,
    /// The tag of the offer's crypto line we accepted (the answer repeats it).
    pub tag: u32,
    /// The caller's key: what arrives is checked and decrypted with it.
    pub remote: MasterKey,
    /// Our key (fresh per negotiation): what sori sends is protected with it.
    pub local: MasterKey,
}

/// Result of answering an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: CodecKind,
    /// Payload type of `codec` as offered.
    pub pt: u8,
    /// Payload type of telephone-event as offered, when both sides support it.
    pub dtmf_pt: Option<u8>,
    /// Where to send RTP; None when the peer holds with `c=0.0.0.0` or gave
    /// no address.
    pub remote_rtp: Option<SocketAddr>,
    /// Direction as offered.
    pub remote_direction: Direction,
    /// Direction we answer with (what we may do). Never includes sending
    /// when `remote_rtp` is None.
    pub local_direction: Direction,
    /// Index of the chosen `m=` line in the offer.
    pub media_index: usize,
    /// RTCP multiplexed on the RTP port (the offer had `a=rtcp-mux`; we
    /// always accept it).
    pub rtcp_mux: bool,
    /// Where to send RTCP: the RTP address when multiplexed, else the
    /// offer's `a=rtcp` port or the RTP port + 1.
    pub remote_rtcp: Option<SocketAddr>,
    /// SRTP keys when the stream is `RTP/SAVP(F)` with an SDES crypto line.
    pub srtp: Option<SrtpKeys>,
}

impl Negotiated {
    /// Whether the call is on hold (we must not send media).
    pub fn is_hold(&self) -> bool {
        !self.local_direction.sends()
    }
}

/// Chooses the audio stream and codec to answer `offer` with.
///
/// Picks the first audio `m=` line with a non-zero port and a transport the
/// SRTP policy allows (plain RTP; `RTP/SAVP(F)` with a crypto line of a
/// suite sori speaks) that has a codec in `caps`, using the offerer's
/// preference order. Returns [`SdpError::NoCommonCodec`] when none qualifies.
pub fn negotiate(offer: &SessionDescription, caps: &LocalCaps) -> Result<Negotiated, SdpError> {
    for (index, m) in offer.media.iter().enumerate() {
        if !m.media.eq_ignore_ascii_case("audio") || m.port == 0 {
            continue;
        }
        let srtp = match caps.srtp {
            SrtpPolicy::Plain if m.is_plain_rtp() => None,
            SrtpPolicy::Offer if m.is_plain_rtp() => None,
            SrtpPolicy::Offer | SrtpPolicy::Require if m.is_srtp() => match m.crypto.first() {
                Some(c) => {
                    Some(SrtpKeys { suite: c.suite, tag: c.tag, remote: c.key.clone(), local: MasterKey::random() })
                }
                None => continue,
            },
            _ => continue,
        };
        let chosen = m
            .formats
            .iter()
            .find_map(|&pt| m.codec_for(pt).filter(|kind| caps.codecs.contains(kind)).map(|kind| (pt, kind)));
        let Some((pt, codec)) = chosen else {
            continue;
        };
        let dtmf_pt = if caps.telephone_event {
            m.telephone_event_pt(codec.clock_rate()).or_else(|| m.telephone_event_pt(8000))
        } else {
            None
        };
        let remote_rtp =
            m.connection.or(offer.connection).filter(|ip| !ip.is_unspecified()).map(|ip| SocketAddr::new(ip, m.port));
        let remote_direction = m.direction;
        let mut local_direction = remote_direction.reverse();
        if remote_rtp.is_none() {
            // RFC 2543-style hold: we have nowhere to send to.
            local_direction = match local_direction {
                Direction::SendRecv | Direction::RecvOnly => Direction::RecvOnly,
                Direction::SendOnly | Direction::Inactive => Direction::Inactive,
            };
        }
        let remote_rtcp = match (m.rtcp_mux, remote_rtp) {
            (true, rtp) => rtp,
            (false, Some(a)) => m.rtcp_port.or(a.port().checked_add(1)).map(|p| SocketAddr::new(a.ip(), p)),
            (false, None) => None,
        };
        return Ok(Negotiated {
            codec,
            pt,
            dtmf_pt,
            remote_rtp,
            remote_direction,
            local_direction,
            media_index: index,
            rtcp_mux: m.rtcp_mux,
            remote_rtcp,
            srtp,
        });
    }
    Err(SdpError::NoCommonCodec)
}

/// `fmtp` we answer with for Opus: we decode and encode at 8 kHz mono.
const OPUS_FMTP: &str = "maxplaybackrate=8000;sprop-maxcapturerate=8000;stereo=0;sprop-stereo=0";

/// Builds the SDP answer (CRLF line endings) for `offer` given `neg`.
///
/// Every offered `m=` line gets a line in the answer, in the same order; all
/// but the chosen one are rejected with port 0 (RFC 3264 §6).
pub fn answer(
    offer: &SessionDescription,
    neg: &Negotiated,
    local_ip: IpAddr,
    local_rtp_port: u16,
    session_id: u64,
    session_version: u64,
) -> String {
    let ip_ver = if local_ip.is_ipv4() { "IP4" } else { "IP6" };
    let mut s = String::with_capacity(512);
    // Writing to a String cannot fail.
    let _ = write!(
        s,
        "v=0\r\n\
         o=sori {session_id} {session_version} IN {ip_ver} {local_ip}\r\n\
         s=sori\r\n\
         c=IN {ip_ver} {local_ip}\r\n\
         t=0 0\r\n"
    );
    for (index, m) in offer.media.iter().enumerate() {
        if index != neg.media_index {
            let fmts = if m.raw_formats.is_empty() { "0".to_string() } else { m.raw_formats.join(" ") };
            let _ = write!(s, "m={} 0 {} {}\r\n", m.media, m.proto, fmts);
            continue;
        }
        let _ = write!(s, "m=audio {local_rtp_port} {} {}", m.proto, neg.pt);
        if let Some(dtmf) = neg.dtmf_pt {
            let _ = write!(s, " {dtmf}");
        }
        s.push_str("\r\n");
        let _ = write!(s, "a=rtpmap:{} {}/{}", neg.pt, neg.codec.name(), neg.codec.clock_rate());
        if neg.codec == CodecKind::Opus {
            s.push_str("/2");
        }
        s.push_str("\r\n");
        if neg.codec == CodecKind::Opus {
            let _ = write!(s, "a=fmtp:{} {OPUS_FMTP}\r\n", neg.pt);
        }
        if let Some(dtmf) = neg.dtmf_pt {
            let rate = m.rtpmap(dtmf).map_or(8000, |r| r.clock_rate);
            let _ = write!(s, "a=rtpmap:{dtmf} telephone-event/{rate}\r\n");
            let _ = write!(s, "a=fmtp:{dtmf} 0-16\r\n");
        }
        s.push_str("a=ptime:20\r\n");
        if neg.rtcp_mux {
            s.push_str("a=rtcp-mux\r\n");
        }
        if let Some(k) = &neg.srtp {
            let c = Crypto { tag: k.tag, suite: k.suite, key: k.local.clone() };
            let _ = write!(s, "a={}\r\n", c.to_attribute());
        }
        let _ = write!(s, "a={}\r\n", neg.local_direction.as_str());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn caps(codecs: &[CodecKind]) -> LocalCaps {
        LocalCaps { codecs: codecs.to_vec(), telephone_event: true, srtp: SrtpPolicy::Offer }
    }

    fn g711_caps() -> LocalCaps {
        caps(&[CodecKind::Pcmu, CodecKind::Pcma])
    }

    const SIPP_OFFER: &str = "v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.1.1\r\n\
s=-\r\n\
c=IN IP4 127.0.1.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-11,16\r\n";

    const ASTERISK_OFFER: &str = "v=0\n\
o=- 1234567 1234568 IN IP4 192.168.1.10\n\
s=Asterisk\n\
c=IN IP4 192.168.1.10\n\
t=0 0\n\
m=audio 10000 RTP/AVP 8 0 3 101\n\
a=rtpmap:8 PCMA/8000\n\
a=rtpmap:0 PCMU/8000\n\
a=rtpmap:3 GSM/8000\n\
a=rtpmap:101 telephone-event/8000\n\
a=fmtp:101 0-16\n\
a=ptime:20\n\
a=maxptime:150\n\
a=sendrecv\n";

    const BARESIP_OFFER: &str = "v=0\r\n\
o=- 1915049063 2123478936 IN IP4 10.0.0.5\r\n\
s=-\r\n\
c=IN IP4 10.0.0.5\r\n\
t=0 0\r\n\
m=audio 10970 RTP/AVP 96 0 8 101\r\n\
b=AS:128\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 stereo=1;sprop-stereo=1\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=sendrecv\r\n\
a=label:1\r\n\
a=ssrc:123456 cname:abc\r\n\
a=rtcp-mux\r\n";

    #[test]
    fn parses_typical_sipp_offer() {
        let sd = parse(SIPP_OFFER).expect("parse");
        assert_eq!(sd.origin_addr, Some(IpAddr::V4(Ipv4Addr::new(127, 0, 1, 1))));
        assert_eq!(sd.session_id.as_deref(), Some("53655765"));
        assert_eq!(sd.session_version, Some(2353687637));
        assert_eq!(sd.connection, Some(IpAddr::V4(Ipv4Addr::new(127, 0, 1, 1))));
        assert_eq!(sd.media.len(), 1);
        let m = &sd.media[0];
        assert_eq!(m.media, "audio");
        assert_eq!(m.port, 6000);
        assert_eq!(m.proto, "RTP/AVP");
        assert_eq!(m.formats, vec![0, 8, 101]);
        assert_eq!(m.rtpmaps.len(), 3);
        assert_eq!(
            m.rtpmap(101),
            Some(&RtpMap { pt: 101, encoding: "telephone-event".into(), clock_rate: 8000, channels: None })
        );
        assert_eq!(m.fmtp(101), Some("0-11,16"));
        assert_eq!(m.direction, Direction::SendRecv);
        assert_eq!(m.connection, None);
    }

    #[test]
    fn negotiates_sipp_offer_to_pcmu_with_dtmf() {
        let sd = parse(SIPP_OFFER).expect("parse");
        let neg = negotiate(&sd, &g711_caps()).expect("negotiate");
        assert_eq!(neg.codec, CodecKind::Pcmu);
        assert_eq!(neg.pt, 0);
        assert_eq!(neg.dtmf_pt, Some(101));
        assert_eq!(neg.remote_rtp, Some("127.0.1.1:6000".parse().expect("addr")));
        assert_eq!(neg.remote_direction, Direction::SendRecv);
        assert_eq!(neg.local_direction, Direction::SendRecv);
        assert_eq!(neg.media_index, 0);
        assert!(!neg.is_hold());
    }

    #[test]
    fn follows_offerer_preference_order() {
        let sd = parse(ASTERISK_OFFER).expect("parse");
        // Our list prefers PCMU, but Asterisk lists PCMA first.
        let neg = negotiate(&sd, &g711_caps()).expect("negotiate");
        assert_eq!(neg.codec, CodecKind::Pcma);
        assert_eq!(neg.pt, 8);
        assert_eq!(sd.media[0].ptime, Some(20));
        // With PCMA disabled the next offered codec we support is chosen.
        let neg = negotiate(&sd, &caps(&[CodecKind::Pcmu])).expect("negotiate");
        assert_eq!(neg.codec, CodecKind::Pcmu);
        assert_eq!(neg.pt, 0);
    }

    #[test]
    fn telephone_event_is_omitted_when_disabled() {
        let sd = parse(ASTERISK_OFFER).expect("parse");
        let mut c = g711_caps();
        c.telephone_event = false;
        let neg = negotiate(&sd, &c).expect("negotiate");
        assert_eq!(neg.dtmf_pt, None);
        let ans = answer(&sd, &neg, "10.1.1.1".parse().expect("ip"), 20000, 1, 1);
        assert!(!ans.contains("telephone-event"));
        assert!(ans.contains("m=audio 20000 RTP/AVP 8\r\n"));
    }

    #[test]
    fn static_payload_types_work_without_rtpmap() {
        let offer = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                     m=audio 4000 RTP/AVP 18 8\r\n";
        let sd = parse(offer).expect("parse");
        let neg = negotiate(&sd, &g711_caps()).expect("negotiate");
        assert_eq!((neg.codec, neg.pt), (CodecKind::Pcma, 8));
        assert_eq!(neg.dtmf_pt, None);
    }

    #[test]
    fn picks_opus_from_baresip_offer_when_enabled() {
        let sd = parse(BARESIP_OFFER).expect("parse");
        let c = caps(&[CodecKind::Opus, CodecKind::Pcmu, CodecKind::Pcma]);
        let neg = negotiate(&sd, &c).expect("negotiate");
        assert_eq!(neg.codec, CodecKind::Opus);
        assert_eq!(neg.pt, 96);
        assert_eq!(neg.dtmf_pt, Some(101));
        let ans = answer(&sd, &neg, "10.0.0.9".parse().expect("ip"), 30000, 7, 8);
        assert!(ans.contains("m=audio 30000 RTP/AVP 96 101\r\n"), "{ans}");
        assert!(ans.contains("a=rtpmap:96 opus/48000/2\r\n"), "{ans}");
        assert!(ans.contains("a=fmtp:96 maxplaybackrate=8000"), "{ans}");
    }

    #[test]
    fn rtcp_mux_is_accepted_and_rtcp_goes_to_port_plus_one_or_a_rtcp() {
        let sd = parse(BARESIP_OFFER).expect("parse");
        let neg = negotiate(&sd, &g711_caps()).expect("negotiate");
        assert!(neg.rtcp_mux);
        assert_eq!(neg.remote_rtcp, neg.remote_rtp, "multiplexed: RTCP on the RTP port");
        let ans = answer(&sd, &neg, "10.0.0.9".parse().expect("ip"), 30000, 7, 8);
        assert!(ans.contains("a=rtcp-mux\r\n"), "{ans}");
        assert!(parse(&ans).expect("answer parses").media[0].rtcp_mux);
        let neg = negotiate(&parse(SIPP_OFFER).expect("parse"), &g711_caps()).expect("negotiate");
        assert!(!neg.rtcp_mux);
        assert_eq!(neg.remote_rtcp, Some("127.0.1.1:6001".parse().expect("addr")));
        let offer = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\na=rtcp:4999 IN IP4 10.0.0.1\r\n";
        let neg = negotiate(&parse(offer).expect("parse"), &g711_caps()).expect("negotiate");
        assert_eq!(neg.remote_rtcp, Some("10.0.0.1:4999".parse().expect("addr")));
        let offer = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\na=rtcp:x\r\n";
        let neg = negotiate(&parse(offer).expect("lenient"), &g711_caps()).expect("negotiate");
        assert_eq!(neg.remote_rtcp, Some("10.0.0.1:4001".parse().expect("addr")));
    }

    #[test]
    fn falls_back_to_g711_when_opus_disabled() {
        let sd = parse(BARESIP_OFFER).expect("parse");
        let neg = negotiate(&sd, &g711_caps()).expect("negotiate");
        assert_eq!((neg.codec, neg.pt), (CodecKind::Pcmu, 0));
        let ans = answer(&sd, &neg, "10.0.0.9".parse().expect("ip"), 30000, 7, 8);
        assert!(!ans.contains("opus"));
    }

    #[test]
    fn opus_requires_48000_and_two_channels() {
        let offer = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 111 112\r\n\
                     a=rtpmap:111 opus/48000\r\na=rtpmap:112 OPUS/16000/2\r\n";
        let sd = parse(offer).expect("parse");
        let c = caps(&[CodecKind::Opus]);
        assert_eq!(negotiate(&sd, &c), Err(SdpError::NoCommonCodec));
    }

    #[test]
    fn prefers_telephone_event_matching_codec_clock() {
        let offer = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 111 0 101 110\r\n\
                     a=rtpmap:111 opus/48000/2\r\na=rtpmap:101 telephone-event/8000\r\n\
                     a=rtpmap:110 telephone-event/48000\r\n";
        let sd = parse(offer).expect("parse");
        let neg = negotiate(&sd, &caps(&[CodecKind::Opus])).expect("opus");
        assert_eq!(neg.dtmf_pt, Some(110));
        let ans = answer(&sd, &neg, "10.0.0.9".parse().expect("ip"), 30000, 1, 1);
        assert!(ans.contains("a=rtpmap:110 telephone-event/48000\r\n"), "{ans}");
        let neg = negotiate(&sd, &caps(&[CodecKind::Pcmu])).expect("pcmu");
        assert_eq!(neg.dtmf_pt, Some(101));
    }

    #[test]
    fn builds_answer_per_rfc3264() {
        let sd = parse(SIPP_OFFER).expect("parse");
        let neg = negotiate(&sd, &g711_caps()).expect("negotiate");
        let ans = answer(&sd, &neg, "192.0.2.5".parse().expect("ip"), 40000, 42, 43);
        let expected = "v=0\r\n\
o=sori 42 43 IN IP4 192.0.2.5\r\n\
s=sori\r\n\
c=IN IP4 192.0.2.5\r\n\
t=0 0\r\n\
m=audio 40000 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";
        assert_eq!(ans, expected);
        // The answer is itself valid SDP that negotiates to the same codec.
        let back = parse(&ans).expect("answer parses");
        let again = negotiate(&back, &g711_caps()).expect("negotiate");
        assert_eq!((again.codec, again.pt, again.dtmf_pt), (CodecKind::Pcmu, 0, Some(101)));
        assert_eq!(again.remote_rtp, Some("192.0.2.5:40000".parse().expect("addr")));
    }

    #[test]
    fn answers_ipv6_offers_with_ip6() {
        let offer = "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::1\r\n\
                     t=0 0\r\nm=audio 5004 RTP/AVP 0\r\n";
        let sd = parse(offer).expect("parse");
        let neg = negotiate(&sd, &g711_caps()).expect("negotiate");
        assert_eq!(neg.remote_rtp, Some("[2001:db8::1]:5004".parse().expect("addr")));
        let ans = answer(&sd, &neg, "2001:db8::2".parse().expect("ip"), 6000, 1, 1);
        assert!(ans.contains("c=IN IP6 2001:db8::2\r\n"));
    }

    #[test]
    fn sendonly_offer_is_answered_recvonly() {
        let offer = SIPP_OFFER.to_string() + "a=sendonly\r\n";
        let sd = parse(&offer).expect("parse");
        let neg = negotiate(&sd, &g711_caps()).expect("negotiate");
        assert_eq!(neg.remote_direction, Direction::SendOnly);
        assert_eq!(neg.local_direction, Direction::RecvOnly);
        assert!(neg.is_hold());
        assert!(neg.remote_rtp.is_some());
        let ans = answer(&sd, &neg, "10.0.0.1".parse().expect("ip"), 1234, 1, 2);
        assert!(ans.ends_with("a=recvonly\r\n"));
    }

    #[test]
    fn direction_answers_mirror_offer() {
        for (offered, answered) in [
            ("sendrecv", Direction::SendRecv),
            ("sendonly", Direction::RecvOnly),
            ("recvonly", Direction::SendOnly),
            ("inactive", Direction::Inactive),
        ] {
            let offer = format!("{SIPP_OFFER}a={offered}\r\n");
            let sd = parse(&offer).expect("parse");
            let neg = negotiate(&sd, &g711_caps()).expect("negotiate");
            assert_eq!(neg.local_direction, answered, "offer {offered}");
        }
    }

    #[test]
    fn session_level_direction_applies_to_media() {
        let offer = "v=0\r\nc=IN IP4 10.0.0.1\r\na=inactive\r\nm=audio 4000 RTP/AVP 0\r\n\
                     m=audio 4002 RTP/AVP 0\r\na=sendrecv\r\n";
        let sd = parse(offer).expect("parse");
        assert_eq!(sd.direction, Some(Direction::Inactive));
        assert_eq!(sd.media[0].direction, Direction::Inactive);
        assert_eq!(sd.media[1].direction, Direction::SendRecv);
    }

    #[test]
    fn zero_address_is_hold_without_remote() {
        let offer = SIPP_OFFER.replace("c=IN IP4 127.0.1.1", "c=IN IP4 0.0.0.0");
        let sd = parse(&offer).expect("parse");
        let neg = negotiate(&sd, &g711_caps()).expect("negotiate");
        assert_eq!(neg.remote_rtp, None);
        assert_eq!(neg.local_direction, Direction::RecvOnly);
        assert!(neg.is_hold());
    }

    #[test]
    fn media_level_connection_overrides_session_level() {
        let offer = SIPP_OFFER
            .replace("m=audio 6000 RTP/AVP 0 8 101\r\n", "m=audio 6000 RTP/AVP 0 8 101\r\nc=IN IP4 203.0.113.7\r\n");
        let sd = parse(&offer).expect("parse");
        assert_eq!(sd.media[0].connection, Some("203.0.113.7".parse().expect("ip")));
        let neg = negotiate(&sd, &g711_caps()).expect("negotiate");
        assert_eq!(neg.remote_rtp, Some("203.0.113.7:6000".parse().expect("addr")));
    }

    #[test]
    fn only_g722_offer_has_no_common_codec() {
        let offer = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                     m=audio 4000 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n";
        let sd = parse(offer).expect("parse");
        assert_eq!(negotiate(&sd, &g711_caps()), Err(SdpError::NoCommonCodec));
    }

    #[test]
    fn no_audio_or_srtp_only_has_no_common_codec() {
        let video_only = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=video 4000 RTP/AVP 96\r\n";
        let sd = parse(video_only).expect("parse");
        assert_eq!(negotiate(&sd, &g711_caps()), Err(SdpError::NoCommonCodec));
        let srtp = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/SAVP 0\r\n";
        let sd = parse(srtp).expect("parse");
        assert_eq!(negotiate(&sd, &g711_caps()), Err(SdpError::NoCommonCodec), "SRTP without a key sori can use");
    }

    /// baresip's `mediaenc=srtp-mand` offer: an unusable crypto line (MKI), then two good ones.
    const SRTP_OFFER: &str = "v=0\r\no=- 1 2 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\n\
        m=audio 10970 RTP/SAVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
        a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32\r\n\
        a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR\r\n\
        a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:d0RmdmcmVCspeEc3QGZiNWpVLFJhQX1cfHAwJSoj\r\n\
        a=sendrecv\r\n";

    #[test]
    fn srtp_offer_is_answered_with_our_own_key_by_policy() {
        let sd = parse(SRTP_OFFER).expect("parse");
        assert_eq!(sd.media[0].crypto.len(), 2, "the MKI line is passed over");
        let mut c = g711_caps();
        let neg = negotiate(&sd, &c).expect("offer policy takes SRTP");
        let k = neg.srtp.as_ref().expect("srtp");
        assert_eq!((k.tag, k.suite), (2, Suite::AesCm128HmacSha1_32), "the offerer's first usable line");
        assert_ne!(k.local, k.remote, "we send with our own key");
        let ans = answer(&sd, &neg, "10.0.0.9".parse().expect("ip"), 30000, 1, 1);
        assert!(ans.contains("m=audio 30000 RTP/SAVP 0 101\r\n"), "{ans}");
        let line = ans.lines().find(|l| l.starts_with("a=crypto:")).expect("crypto line");
        let ours = Crypto::parse(&line["a=crypto:".len()..]).expect("our line parses");
        assert_eq!((ours.tag, ours.suite, &ours.key), (2, Suite::AesCm128HmacSha1_32, &k.local));
        assert_eq!(ans.matches("a=crypto").count(), 1);

        c.srtp = SrtpPolicy::Plain;
        assert_eq!(negotiate(&sd, &c), Err(SdpError::NoCommonCodec), "plain policy refuses SRTP");
        c.srtp = SrtpPolicy::Require;
        assert!(negotiate(&sd, &c).expect("require").srtp.is_some());
        let plain = parse(SIPP_OFFER).expect("parse");
        assert_eq!(negotiate(&plain, &c), Err(SdpError::NoCommonCodec), "require refuses plain RTP");
        c.srtp = SrtpPolicy::Offer;
        let neg = negotiate(&plain, &c).expect("offer policy takes plain too");
        assert!(neg.srtp.is_none());
        assert!(!answer(&plain, &neg, "10.0.0.9".parse().expect("ip"), 30000, 1, 1).contains("crypto"));
    }

    #[test]
    fn rejects_other_media_lines_with_port_zero_in_order() {
        let offer = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                     m=video 5002 RTP/AVP 96 97\r\na=rtpmap:96 H264/90000\r\n\
                     m=audio 0 RTP/AVP 0\r\n\
                     m=audio 5000 RTP/AVP 9 0\r\n\
                     m=image 5004 udptl t38\r\n";
        let sd = parse(offer).expect("parse");
        assert_eq!(sd.media.len(), 4);
        assert!(sd.media[3].formats.is_empty());
        let neg = negotiate(&sd, &g711_caps()).expect("negotiate");
        assert_eq!(neg.media_index, 2);
        let ans = answer(&sd, &neg, "10.0.0.2".parse().expect("ip"), 7000, 1, 1);
        let m_lines: Vec<&str> = ans.split("\r\n").filter(|l| l.starts_with("m=")).collect();
        assert_eq!(
            m_lines,
            vec!["m=video 0 RTP/AVP 96 97", "m=audio 0 RTP/AVP 0", "m=audio 7000 RTP/AVP 0", "m=image 0 udptl t38",]
        );
    }

    #[test]
    fn malformed_lines_report_line_numbers() {
        let cases = [
            ("v=0\r\nm=audio abc RTP/AVP 0\r\n", 2),
            ("v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:x PCMU/8000\r\n", 4),
            ("v=0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n", 3),
            ("v=0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/fast\r\n", 3),
            ("v=0\r\nc=IN IP4 not-an-ip\r\n", 2),
            ("v=0\r\nc=IN IP4\r\n", 2),
            ("v=0\r\nthis is not sdp\r\n", 2),
            ("v=1\r\n", 1),
            ("v=0\no=short\n", 2),
            ("v=0\nm=audio 4000 RTP/AVP 300\n", 2),
            ("v=0\nm=audio 70000 RTP/AVP 0\n", 2),
            ("v=0\nm=audio\n", 2),
            ("v=0\nm=audio 4000 RTP/AVP 0\na=ptime:abc\n", 3),
        ];
        for (text, line) in cases {
            match parse(text) {
                Err(SdpError::Malformed { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("expected error for {text:?}, got {other:?}"),
            }
        }
        assert_eq!(parse(""), Err(SdpError::Empty));
        assert_eq!(parse("\r\n\r\n"), Err(SdpError::Empty));
        // The same fault on a video stream is ignored (RFC 4475 §3.1.1.1's SDP).
        let sd = parse(
            "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\nm=video 3227 RTP/AVP 31\r\na=rtpmap:31 LPC\r\n",
        );
        assert_eq!(sd.map(|s| s.media.len()), Ok(2));
    }

    #[test]
    fn ignores_unknown_lines_and_attributes() {
        let offer = "v=0\r\no=- 1 1 IN IP4 host.example.com\r\ns=-\r\ni=info\r\n\
                     c=IN IP4 10.0.0.1/127\r\nt=0 0\r\nz=whatever\r\na=group:BUNDLE 0\r\n\
                     m=audio 4000/2 RTP/AVPF 0\r\nb=TIAS:64000\r\na=mid:0\r\na=weird\r\n";
        let sd = parse(offer).expect("parse");
        assert_eq!(sd.origin_addr, None, "hostname origin is not an IP");
        assert_eq!(sd.connection, Some("10.0.0.1".parse().expect("ip")));
        assert_eq!(sd.media[0].port, 4000);
        assert!(negotiate(&sd, &g711_caps()).is_ok(), "RTP/AVPF is accepted");
    }

    #[test]
    fn parser_never_panics_on_truncated_or_mangled_input() {
        use rand::{Rng, SeedableRng};
        for text in [SIPP_OFFER, ASTERISK_OFFER, BARESIP_OFFER] {
            for end in 0..=text.len() {
                if let Some(prefix) = text.get(..end) {
                    let _ = parse(prefix).map(|sd| negotiate(&sd, &g711_caps()));
                }
            }
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let alphabet: Vec<char> = "vocmast=:/ 0123456789abcIPN4\r\n\u{e9}\u{d55c}".chars().collect();
        for _ in 0..5000 {
            let len = rng.gen_range(0..80);
            let s: String = (0..len).map(|_| alphabet[rng.gen_range(0..alphabet.len())]).collect();
            if let Ok(sd) = parse(&s) {
                if let Ok(neg) = negotiate(&sd, &g711_caps()) {
                    let _ = answer(&sd, &neg, "10.0.0.1".parse().expect("ip"), 1, 1, 1);
                }
            }
        }
    }
}
