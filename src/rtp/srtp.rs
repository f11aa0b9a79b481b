//! SRTP and SRTCP (RFC 3711) with the two suites SIP trunks negotiate by
//! SDES (RFC 4568): `AES_CM_128_HMAC_SHA1_80` and `AES_CM_128_HMAC_SHA1_32`.
//! Sans-IO: packets in, packets out.
//!
//! Each direction has its own master key (SDES: each side offers the key it
//! sends with), so a call holds two [`Srtp`] contexts: one that protects what
//! sori sends, one that checks and decrypts what the caller sends.
//!
//! * Session keys come from the master key and salt by the AES-CM PRF
//!   (§4.3, key derivation rate 0): labels 0–2 for RTP, 3–5 for RTCP.
//! * RTP: the payload (after the header, CSRCs and any extension) is
//!   encrypted with AES in counter mode, IV = salt ⊕ SSRC·2⁶⁴ ⊕ index·2¹⁶;
//!   the header and the encrypted payload, followed by the rollover counter,
//!   are authenticated with HMAC-SHA1 truncated to 80 or 32 bits (§4.2).
//!   The receiver estimates the 48-bit index from the sequence number
//!   (§3.3.1), checks the tag before anything else, and refuses replays in a
//!   64-packet window (§3.3.2).
//! * RTCP: everything after the first 8 bytes is encrypted; the E flag and a
//!   31-bit SRTCP index follow, then an 80-bit tag for both suites (§3.4,
//!   RFC 4568 §6.2.2).

use std::collections::HashMap;

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use aes::Aes128;
use base64::Engine as _;
use hmac::{Hmac, Mac};

type HmacSha1 = Hmac<sha1::Sha1>;

/// Master key length (AES-128) and master salt length, in bytes.
pub const KEY_LEN: usize = 16;
pub const SALT_LEN: usize = 14;
/// The SRTCP tag is 80 bits for both suites.
const RTCP_TAG_LEN: usize = 10;
const REPLAY_WINDOW: u64 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    AesCm128HmacSha1_80,
    AesCm128HmacSha1_32,
}

impl Suite {
    /// Best first: what sori offers and prefers.
    pub const ALL: [Suite; 2] = [Suite::AesCm128HmacSha1_80, Suite::AesCm128HmacSha1_32];

    pub fn name(self) -> &'static str {
        match self {
            Suite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Suite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    pub fn from_name(name: &str) -> Option<Suite> {
        Suite::ALL.into_iter().find(|s| s.name().eq_ignore_ascii_case(name))
    }

    /// Length of the RTP authentication tag, bytes.
    pub fn rtp_tag_len(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 => 10,
            Suite::AesCm128HmacSha1_32 => 4,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SrtpError {
    #[error("packet too short for SRTP")]
    TooShort,
    #[error("authentication tag does not match")]
    AuthFailed,
    #[error("replayed packet")]
    Replayed,
    #[error("packet older than the replay window")]
    TooOld,
    #[error("bad SDES key: {0}")]
    BadKey(String),
}

/// A master key and salt (what an SDES `inline:` carries, 30 bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    pub key: [u8; KEY_LEN],
    pub salt: [u8; SALT_LEN],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(…)") // never log key material
    }
}

impl MasterKey {
    pub fn from_bytes(b: &[u8]) -> Result<MasterKey, SrtpError> {
        if b.len() != KEY_LEN + SALT_LEN {
            return Err(SrtpError::BadKey(format!("{} bytes of key and salt, want 30", b.len())));
        }
        let mut key = [0u8; KEY_LEN];
        let mut salt = [0u8; SALT_LEN];
        key.copy_from_slice(&b[..KEY_LEN]);
        salt.copy_from_slice(&b[KEY_LEN..]);
        Ok(MasterKey { key, salt })
    }

    /// A fresh random key and salt (the operating system's generator).
    pub fn random() -> MasterKey {
        use rand::RngCore;
        let mut b = [0u8; KEY_LEN + SALT_LEN];
        rand::rngs::OsRng.fill_bytes(&mut b);
        MasterKey::from_bytes(&b).expect("30 bytes")
    }

    pub fn to_base64(&self) -> String {
        let mut b = Vec::with_capacity(KEY_LEN + SALT_LEN);
        b.extend_from_slice(&self.key);
        b.extend_from_slice(&self.salt);
        base64::engine::general_purpose::STANDARD.encode(b)
    }

    pub fn from_base64(s: &str) -> Result<MasterKey, SrtpError> {
        let b = base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .map_err(|e| SrtpError::BadKey(format!("not base64: {e}")))?;
        MasterKey::from_bytes(&b)
    }
}

/// One SDES crypto attribute (RFC 4568 §9.1):
/// `a=crypto:<tag> <suite> inline:<key||salt base64>[|lifetime][|MKI:len]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crypto {
    pub tag: u32,
    pub suite: Suite,
    pub key: MasterKey,
}

impl Crypto {
    /// The value after `a=crypto:`. `None` for what sori cannot use: an
    /// unknown suite, several keys, an MKI (packets would carry it), or
    /// session parameters (UNENCRYPTED_SRTP and the like).
    pub fn parse(value: &str) -> Option<Crypto> {
        let mut parts = value.split_whitespace();
        let tag: u32 = parts.next()?.parse().ok()?;
        let suite = Suite::from_name(parts.next()?)?;
        let key_params = parts.next()?;
        if parts.next().is_some() || key_params.contains(';') {
            return None;
        }
        let inline = key_params.strip_prefix("inline:")?;
        let mut fields = inline.split('|');
        let key = MasterKey::from_base64(fields.next()?).ok()?;
        for f in fields {
            if f.contains(':') {
                return None; // MKI:length
            }
            // A lifetime ("2^31" or a number) is fine: calls are far shorter.
        }
        Some(Crypto { tag, suite, key })
    }

    pub fn to_attribute(&self) -> String {
        format!("crypto:{} {} inline:{}", self.tag, self.suite.name(), self.key.to_base64())
    }
}

/// The session keys of one stream kind (RTP or RTCP), §4.3.
struct SessionKeys {
    cipher: Aes128,
    salt: [u8; SALT_LEN],
    auth: HmacSha1,
}

impl SessionKeys {
    fn derive(master: &MasterKey, first_label: u8) -> SessionKeys {
        let prf = Aes128::new(GenericArray::from_slice(&master.key));
        let mut enc = [0u8; KEY_LEN];
        let mut auth = [0u8; 20];
        let mut salt = [0u8; SALT_LEN];
        prf_fill(&prf, &master.salt, first_label, &mut enc);
        prf_fill(&prf, &master.salt, first_label + 1, &mut auth);
        prf_fill(&prf, &master.salt, first_label + 2, &mut salt);
        SessionKeys {
            cipher: Aes128::new(GenericArray::from_slice(&enc)),
            salt,
            auth: <HmacSha1 as Mac>::new_from_slice(&auth).expect("HMAC takes any key length"),
        }
    }

    /// XORs `data` with the AES-CM keystream for this SSRC and index.
    fn crypt(&self, ssrc: u32, index: u64, data: &mut [u8]) {
        let mut iv = [0u8; 16];
        iv[..SALT_LEN].copy_from_slice(&self.salt);
        for (i, b) in ssrc.to_be_bytes().iter().enumerate() {
            iv[4 + i] ^= b;
        }
        for (i, b) in index.to_be_bytes()[2..].iter().enumerate() {
            iv[8 + i] ^= b;
        }
        aes_cm(&self.cipher, iv, data);
    }

    fn tag(&self, parts: &[&[u8]]) -> [u8; 20] {
        let mut mac = self.auth.clone();
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        let mut mac = self.auth.clone();
        for p in parts {
            mac.update(p);
        }
        mac.verify_truncated_left(tag).is_ok()
    }
}

/// AES in counter mode from `iv` (the counter is the whole block, big-endian).
fn aes_cm(cipher: &Aes128, iv: [u8; 16], data: &mut [u8]) {
    let mut counter = u128::from_be_bytes(iv);
    for chunk in data.chunks_mut(16) {
        let mut block = GenericArray::from(counter.to_be_bytes());
        cipher.encrypt_block(&mut block);
        for (d, k) in chunk.iter_mut().zip(block.iter()) {
            *d ^= k;
        }
        counter = counter.wrapping_add(1);
    }
}

/// The key-derivation PRF: AES-CM keystream from IV = (salt ⊕ label·2⁴⁸)·2¹⁶.
fn prf_fill(prf: &Aes128, master_salt: &[u8; SALT_LEN], label: u8, out: &mut [u8]) {
    let mut iv = [0u8; 16];
    iv[..SALT_LEN].copy_from_slice(master_salt);
    iv[7] ^= label;
    out.fill(0);
    aes_cm(prf, iv, out);
}

/// What a receiver knows of one SSRC: rollover counter, highest sequence
/// number and the replay window below the highest index.
#[derive(Debug, Clone, Copy)]
struct RtpIn {
    roc: u32,
    s_l: u16,
    highest: u64,
    window: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct RtcpIn {
    highest: u32,
    window: u64,
    seen: bool,
}

/// One direction of an SRTP session: protects what is sent with this key,
/// or checks and decrypts what arrives with it.
pub struct Srtp {
    suite: Suite,
    rtp: SessionKeys,
    rtcp: SessionKeys,
    /// Sender: per SSRC, (rollover counter, last sequence number sent).
    out: HashMap<u32, (u32, u16)>,
    /// Sender: the next SRTCP index.
    rtcp_index: u32,
    rtp_in: HashMap<u32, RtpIn>,
    rtcp_in: HashMap<u32, RtcpIn>,
}

/// Length of an RTP header with its CSRCs and extension, if the packet holds it.
fn rtp_header_len(p: &[u8]) -> Option<usize> {
    if p.len() < 12 || p[0] >> 6 != 2 {
        return None;
    }
    let mut n = 12 + 4 * (p[0] & 0x0f) as usize;
    if p[0] & 0x10 != 0 {
        let words = u16::from_be_bytes([*p.get(n + 2)?, *p.get(n + 3)?]) as usize;
        n += 4 + 4 * words;
    }
    (n <= p.len()).then_some(n)
}

/// Was `index` seen or is it too old, given the highest index and window?
fn replay_check(highest: u64, window: u64, index: u64) -> Result<(), SrtpError> {
    if index > highest {
        return Ok(());
    }
    let back = highest - index;
    if back >= REPLAY_WINDOW {
        return Err(SrtpError::TooOld);
    }
    if window & (1 << back) != 0 {
        return Err(SrtpError::Replayed);
    }
    Ok(())
}

/// The window after accepting `index`.
fn replay_mark(highest: u64, window: u64, index: u64) -> (u64, u64) {
    if index > highest {
        let shift = index - highest;
        let w = if shift >= REPLAY_WINDOW { 0 } else { window << shift };
        (index, w | 1)
    } else {
        (highest, window | (1 << (highest - index)))
    }
}

impl Srtp {
    pub fn new(suite: Suite, master: &MasterKey) -> Srtp {
        Srtp {
            suite,
            rtp: SessionKeys::derive(master, 0),
            rtcp: SessionKeys::derive(master, 3),
            out: HashMap::new(),
            rtcp_index: 0,
            rtp_in: HashMap::new(),
            rtcp_in: HashMap::new(),
        }
    }

    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// RTP → SRTP in place: the payload encrypted, the tag appended (the
    /// media clock reuses one buffer for every packet it sends).
    pub fn protect_rtp(&mut self, packet: &mut Vec<u8>) -> Result<(), SrtpError> {
        let h = rtp_header_len(packet).ok_or(SrtpError::TooShort)?;
        let seq = u16::from_be_bytes([packet[2], packet[3]]);
        let ssrc = u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]);
        let roc = match self.out.get(&ssrc) {
            // Sent in order: a sequence number far below the last one wrapped.
            Some(&(roc, last)) if seq < last && last - seq > 0x8000 => roc.wrapping_add(1),
            // A late packet from before the last wrap.
            Some(&(roc, last)) if seq > last && seq - last > 0x8000 => roc.saturating_sub(1),
            Some(&(roc, _)) => roc,
            None => 0,
        };
        let index = ((roc as u64) << 16) | seq as u64;
        self.rtp.crypt(ssrc, index, &mut packet[h..]);
        let tag = self.rtp.tag(&[packet, &roc.to_be_bytes()]);
        packet.extend_from_slice(&tag[..self.suite.rtp_tag_len()]);
        if self.out.get(&ssrc).is_none_or(|&last| (roc, seq) > last) {
            self.out.insert(ssrc, (roc, seq));
        }
        Ok(())
    }

    /// SRTP → RTP: the tag checked first, then replay, then decryption.
    pub fn unprotect_rtp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let tag_len = self.suite.rtp_tag_len();
        if packet.len() < 12 + tag_len {
            return Err(SrtpError::TooShort);
        }
        let (body, tag) = packet.split_at(packet.len() - tag_len);
        let h = rtp_header_len(body).ok_or(SrtpError::TooShort)?;
        let seq = u16::from_be_bytes([body[2], body[3]]);
        let ssrc = u32::from_be_bytes([body[8], body[9], body[10], body[11]]);
        let state = self.rtp_in.get(&ssrc).copied();
        // §3.3.1: the rollover counter this packet was most likely sent with.
        let v = match state {
            None => 0,
            Some(s) if s.s_l < 0x8000 => {
                if seq > s.s_l && seq - s.s_l > 0x8000 {
                    s.roc.wrapping_sub(1)
                } else {
                    s.roc
                }
            }
            Some(s) => {
                if s.s_l - 0x8000 > seq {
                    s.roc.wrapping_add(1)
                } else {
                    s.roc
                }
            }
        };
        let index = ((v as u64) << 16) | seq as u64;
        if let Some(s) = state {
            replay_check(s.highest, s.window, index)?;
        }
        if !self.rtp.verify(&[body, &v.to_be_bytes()], tag) {
            return Err(SrtpError::AuthFailed);
        }
        let mut out = body.to_vec();
        self.rtp.crypt(ssrc, index, &mut out[h..]);
        let next = match state {
            None => RtpIn { roc: v, s_l: seq, highest: index, window: 1 },
            Some(s) => {
                let (highest, window) = replay_mark(s.highest, s.window, index);
                let (roc, s_l) = if index > s.highest { (v, seq) } else { (s.roc, s.s_l) };
                RtpIn { roc, s_l, highest, window }
            }
        };
        self.rtp_in.insert(ssrc, next);
        Ok(out)
    }

    /// RTCP (a compound packet) → SRTCP, encrypted, with the next index.
    pub fn protect_rtcp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        if packet.len() < 8 {
            return Err(SrtpError::TooShort);
        }
        let ssrc = u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]);
        let index = self.rtcp_index & 0x7fff_ffff;
        self.rtcp_index = (index + 1) & 0x7fff_ffff;
        let mut out = Vec::with_capacity(packet.len() + 4 + RTCP_TAG_LEN);
        out.extend_from_slice(packet);
        self.rtcp.crypt(ssrc, index as u64, &mut out[8..]);
        out.extend_from_slice(&(0x8000_0000 | index).to_be_bytes());
        let tag = self.rtcp.tag(&[&out]);
        out.extend_from_slice(&tag[..RTCP_TAG_LEN]);
        Ok(out)
    }

    /// SRTCP → RTCP.
    pub fn unprotect_rtcp(&mut self, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        if packet.len() < 8 + 4 + RTCP_TAG_LEN {
            return Err(SrtpError::TooShort);
        }
        let (signed, tag) = packet.split_at(packet.len() - RTCP_TAG_LEN);
        if !self.rtcp.verify(&[signed], tag) {
            return Err(SrtpError::AuthFailed);
        }
        let (body, e_index) = signed.split_at(signed.len() - 4);
        let e_index = u32::from_be_bytes([e_index[0], e_index[1], e_index[2], e_index[3]]);
        let index = e_index & 0x7fff_ffff;
        let ssrc = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
        let state = self.rtcp_in.get(&ssrc).copied().unwrap_or_default();
        if state.seen {
            replay_check(state.highest as u64, state.window, index as u64)?;
        }
        let mut out = body.to_vec();
        if e_index & 0x8000_0000 != 0 {
            self.rtcp.crypt(ssrc, index as u64, &mut out[8..]);
        }
        let (highest, window) =
            if state.seen { replay_mark(state.highest as u64, state.window, index as u64) } else { (index as u64, 1) };
        self.rtcp_in.insert(ssrc, RtcpIn { highest: highest as u32, window, seen: true });
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
    }

    /// `protect_rtp` on a copy of `packet`.
    fn protected(tx: &mut Srtp, packet: &[u8]) -> Result<Vec<u8>, SrtpError> {
        let mut p = packet.to_vec();
        tx.protect_rtp(&mut p).map(|()| p)
    }

    fn rfc_master() -> MasterKey {
        MasterKey::from_bytes(&hex("E1F97A0D3E018BE0D64FA32C06DE4139 0EC675AD498AFEEBB6960B3AABE6")).expect("key")
    }

    /// RFC 3711 Appendix B.3 (and the SRTCP keys of the same master key).
    #[test]
    fn key_derivation_matches_rfc_3711_b3() {
        let m = rfc_master();
        let prf = Aes128::new(GenericArray::from_slice(&m.key));
        let mut enc = [0u8; 16];
        let mut salt = [0u8; 14];
        let mut auth = [0u8; 20];
        prf_fill(&prf, &m.salt, 0, &mut enc);
        prf_fill(&prf, &m.salt, 1, &mut auth);
        prf_fill(&prf, &m.salt, 2, &mut salt);
        assert_eq!(enc.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
        assert_eq!(salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
        assert_eq!(auth.to_vec(), hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4"));
        prf_fill(&prf, &m.salt, 3, &mut enc);
        prf_fill(&prf, &m.salt, 5, &mut salt);
        assert_eq!(enc.to_vec(), hex("4C1AA45A81F73D61C800BBB00FBB1EAA"));
        assert_eq!(salt.to_vec(), hex("9581C7AD87B3E530BF3E4454A8B3"));
    }

    /// RFC 3711 Appendix B.2: the AES-CM keystream for SSRC 0, index 0.
    #[test]
    fn keystream_matches_rfc_3711_b2() {
        let cipher = Aes128::new(GenericArray::from_slice(&hex("2B7E151628AED2A6ABF7158809CF4F3C")));
        let mut iv = [0u8; 16];
        iv[..14].copy_from_slice(&hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"));
        let mut ks = [0u8; 48];
        aes_cm(&cipher, iv, &mut ks);
        assert_eq!(
            ks.to_vec(),
            hex("E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB 41E95B3BB0A2E8DD477901E4FCA894C0")
        );
    }

    const RTP_PLAIN: &str = "800f1234decafbadcafebabe abababababababababababababababab";
    const RTCP_PLAIN: &str = "81c8000bcafebabe abababababababababababababababab";

    /// libSRTP's reference packets (srtp_validate): the same master key,
    /// SSRC 0xcafebabe, sequence 0x1234; SRTCP index 1.
    #[test]
    fn packets_match_libsrtp_reference_vectors() {
        let mut tx = Srtp::new(Suite::AesCm128HmacSha1_80, &rfc_master());
        let sent = protected(&mut tx, &hex(RTP_PLAIN)).expect("protect");
        assert_eq!(sent, hex("800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc99ea179b8dbb"));
        let mut rx = Srtp::new(Suite::AesCm128HmacSha1_80, &rfc_master());
        assert_eq!(rx.unprotect_rtp(&sent).expect("unprotect"), hex(RTP_PLAIN));

        let mut tx32 = Srtp::new(Suite::AesCm128HmacSha1_32, &rfc_master());
        let sent32 = protected(&mut tx32, &hex(RTP_PLAIN)).expect("protect");
        assert_eq!(sent32, hex("800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc"));

        let srtcp = hex("81c8000bcafebabe 7128035be487b9bdbef89041f977a5a8 80000001 993e08cd54d6c1230798");
        let mut rx = Srtp::new(Suite::AesCm128HmacSha1_80, &rfc_master());
        assert_eq!(rx.unprotect_rtcp(&srtcp).expect("srtcp"), hex(RTCP_PLAIN));
        let mut tx = Srtp::new(Suite::AesCm128HmacSha1_80, &rfc_master());
        tx.rtcp_index = 1;
        assert_eq!(tx.protect_rtcp(&hex(RTCP_PLAIN)).expect("protect rtcp"), srtcp);
    }

    fn rtp(seq: u16, payload: u8) -> Vec<u8> {
        let mut p = vec![0x80, 0x00];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 160, 0x12, 0x34, 0x56, 0x78]);
        p.extend(std::iter::repeat_n(payload, 160));
        p
    }

    #[test]
    fn tampered_replayed_and_old_packets_are_refused() {
        let key = MasterKey::random();
        let mut tx = Srtp::new(Suite::AesCm128HmacSha1_80, &key);
        let mut rx = Srtp::new(Suite::AesCm128HmacSha1_80, &key);
        let p1 = protected(&mut tx, &rtp(1, 1)).expect("p1");
        assert_eq!(rx.unprotect_rtp(&p1).expect("first"), rtp(1, 1));
        assert_eq!(rx.unprotect_rtp(&p1), Err(SrtpError::Replayed));
        let mut bad = protected(&mut tx, &rtp(2, 2)).expect("p2");
        bad[20] ^= 1;
        assert_eq!(rx.unprotect_rtp(&bad), Err(SrtpError::AuthFailed));
        let later: Vec<Vec<u8>> = (3..100).map(|s| protected(&mut tx, &rtp(s, 3)).expect("p")).collect();
        for p in &later {
            rx.unprotect_rtp(p).expect("in order");
        }
        assert_eq!(rx.unprotect_rtp(&later[0]), Err(SrtpError::TooOld), "seq 3 is 96 behind");
        // Out of order within the window is fine.
        let late = protected(&mut tx, &rtp(101, 4)).expect("101");
        let early = protected(&mut tx, &rtp(102, 4)).expect("102");
        rx.unprotect_rtp(&early).expect("102 first");
        rx.unprotect_rtp(&late).expect("then 101");
        // The wrong key never decrypts.
        let mut other = Srtp::new(Suite::AesCm128HmacSha1_80, &MasterKey::random());
        assert_eq!(other.unprotect_rtp(&protected(&mut tx, &rtp(103, 5)).expect("p")), Err(SrtpError::AuthFailed));
        assert_eq!(rx.unprotect_rtp(&[0x80; 11]), Err(SrtpError::TooShort));
    }

    #[test]
    fn sequence_wrap_carries_the_rollover_counter_across() {
        let key = MasterKey::random();
        let mut tx = Srtp::new(Suite::AesCm128HmacSha1_32, &key);
        let mut rx = Srtp::new(Suite::AesCm128HmacSha1_32, &key);
        for seq in (65_500u16..=65_535).chain(0..40) {
            let p = protected(&mut tx, &rtp(seq, seq as u8)).expect("protect");
            assert_eq!(rx.unprotect_rtp(&p).expect("unprotect"), rtp(seq, seq as u8), "seq {seq}");
        }
        assert_eq!(rx.rtp_in[&0x12345678].roc, 1);
    }

    #[test]
    fn srtcp_round_trip_and_replay() {
        let key = MasterKey::random();
        let mut tx = Srtp::new(Suite::AesCm128HmacSha1_32, &key);
        let mut rx = Srtp::new(Suite::AesCm128HmacSha1_32, &key);
        let plain = hex(RTCP_PLAIN);
        let a = tx.protect_rtcp(&plain).expect("a");
        let b = tx.protect_rtcp(&plain).expect("b");
        assert_eq!(a.len(), plain.len() + 4 + 10, "80-bit SRTCP tag for the _32 suite too");
        assert_ne!(a, b, "each has its own index");
        assert_eq!(rx.unprotect_rtcp(&b).expect("b"), plain);
        assert_eq!(rx.unprotect_rtcp(&a).expect("a, late"), plain);
        assert_eq!(rx.unprotect_rtcp(&a), Err(SrtpError::Replayed));
    }

    #[test]
    fn sdes_crypto_lines() {
        let line = "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32";
        assert_eq!(Crypto::parse(line), None, "an MKI is not taken");
        let line = "1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20";
        let c = Crypto::parse(line).expect("lifetime is fine");
        assert_eq!((c.tag, c.suite), (1, Suite::AesCm128HmacSha1_80));
        assert_eq!(Crypto::parse(&c.to_attribute()["crypto:".len()..]), Some(c.clone()));
        assert_eq!(
            Crypto::parse("2 AES_CM_128_HMAC_SHA1_32 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR").map(|c| c.tag),
            Some(2)
        );
        assert_eq!(Crypto::parse("1 AEAD_AES_256_GCM inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"), None);
        assert_eq!(Crypto::parse("1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ="), None, "too short a key");
        assert_eq!(
            Crypto::parse("1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR UNENCRYPTED_SRTP"),
            None
        );
        assert_eq!(Crypto::parse("x AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR"), None);
        assert_eq!(format!("{:?}", c.key), "MasterKey(…)");
    }
}
