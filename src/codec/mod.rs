//! Audio codecs used on the RTP leg.
//!
//! The rest of the agent works with 8 kHz mono 16-bit PCM in 20 ms frames
//! (160 samples). Every codec here encodes from and decodes to that format,
//! whatever its RTP clock rate is (Opus runs its encoder/decoder at 8 kHz
//! internally while the RTP clock stays at 48 kHz).

pub mod g711;
pub mod opus;
pub mod plc;

/// Number of 8 kHz PCM samples in one 20 ms frame.
pub const SAMPLES_PER_FRAME_8K: usize = 160;

/// Codecs the agent can negotiate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum CodecKind {
    /// G.711 μ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
    /// Opus (RFC 7587).
    Opus,
}

impl CodecKind {
    /// Encoding name as used in SDP `a=rtpmap`.
    pub fn name(&self) -> &'static str {
        match self {
            CodecKind::Pcmu => "PCMU",
            CodecKind::Pcma => "PCMA",
            CodecKind::Opus => "opus",
        }
    }

    /// RTP clock rate in Hz.
    pub fn clock_rate(&self) -> u32 {
        match self {
            CodecKind::Pcmu | CodecKind::Pcma => 8000,
            CodecKind::Opus => 48000,
        }
    }

    /// Static RTP payload type (RFC 3551), if the codec has one.
    pub fn static_pt(&self) -> Option<u8> {
        match self {
            CodecKind::Pcmu => Some(0),
            CodecKind::Pcma => Some(8),
            CodecKind::Opus => None,
        }
    }

    /// RTP timestamp increment of one 20 ms frame.
    pub fn samples_per_20ms_rtp(&self) -> u32 {
        self.clock_rate() / 50
    }

    /// Looks a codec up by its SDP encoding name (case-insensitive).
    /// A few common aliases (`ulaw`, `alaw`, `g711u`, `g711a`) are accepted too.
    pub fn from_name(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("PCMU") || s.eq_ignore_ascii_case("ulaw") || s.eq_ignore_ascii_case("g711u") {
            Some(CodecKind::Pcmu)
        } else if s.eq_ignore_ascii_case("PCMA") || s.eq_ignore_ascii_case("alaw") || s.eq_ignore_ascii_case("g711a") {
            Some(CodecKind::Pcma)
        } else if s.eq_ignore_ascii_case("opus") {
            Some(CodecKind::Opus)
        } else {
            None
        }
    }
}

impl std::fmt::Display for CodecKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors raised by encoders and decoders.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The Opus library refused to create an encoder or decoder.
    #[error("opus initialisation failed: {0}")]
    OpusInit(String),
    /// The Opus library failed to encode a frame.
    #[error("opus encode failed: {0}")]
    OpusEncode(String),
    /// The Opus library failed to decode a packet (corrupt payload).
    #[error("opus decode failed: {0}")]
    OpusDecode(String),
    /// The PCM frame length is not one the codec can encode.
    #[error("unsupported frame length: {0} samples")]
    BadFrameLength(usize),
    /// The RTP payload carried no data.
    #[error("empty payload")]
    EmptyPayload,
}

/// Encodes 8 kHz mono PCM into an RTP payload.
pub trait Encoder: Send {
    /// Encodes one frame (normally 160 samples = 20 ms) and **appends** the
    /// payload bytes to `out` (the buffer is not cleared).
    fn encode(&mut self, pcm8k: &[i16], out: &mut Vec<u8>) -> Result<(), CodecError>;
}

/// Decodes RTP payloads into 8 kHz mono PCM.
pub trait Decoder: Send {
    /// Decodes one payload and appends the 8 kHz mono samples to `out`.
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError>;
    /// Appends one 20 ms frame (160 samples) of loss concealment to `out`.
    fn conceal(&mut self, out: &mut Vec<i16>);
}

/// Creates an encoder for `kind`.
pub fn encoder(kind: CodecKind) -> Result<Box<dyn Encoder>, CodecError> {
    Ok(match kind {
        CodecKind::Pcmu => Box::new(g711::UlawEncoder),
        CodecKind::Pcma => Box::new(g711::AlawEncoder),
        CodecKind::Opus => Box::new(opus::OpusEncoder::new()?),
    })
}

/// Creates a decoder for `kind`.
pub fn decoder(kind: CodecKind) -> Result<Box<dyn Decoder>, CodecError> {
    Ok(match kind {
        CodecKind::Pcmu => Box::new(plc::WithPlc::new(g711::UlawDecoder)),
        CodecKind::Pcma => Box::new(plc::WithPlc::new(g711::AlawDecoder)),
        CodecKind::Opus => Box::new(opus::OpusDecoder::new()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_properties_match_rfc3551_and_rfc7587() {
        assert_eq!(CodecKind::Pcmu.name(), "PCMU");
        assert_eq!(CodecKind::Pcma.name(), "PCMA");
        assert_eq!(CodecKind::Opus.name(), "opus");
        assert_eq!(CodecKind::Pcmu.clock_rate(), 8000);
        assert_eq!(CodecKind::Pcma.clock_rate(), 8000);
        assert_eq!(CodecKind::Opus.clock_rate(), 48000);
        assert_eq!(CodecKind::Pcmu.static_pt(), Some(0));
        assert_eq!(CodecKind::Pcma.static_pt(), Some(8));
        assert_eq!(CodecKind::Opus.static_pt(), None);
        assert_eq!(CodecKind::Pcmu.samples_per_20ms_rtp(), 160);
        assert_eq!(CodecKind::Pcma.samples_per_20ms_rtp(), 160);
        assert_eq!(CodecKind::Opus.samples_per_20ms_rtp(), 960);
    }

    #[test]
    fn from_name_is_case_insensitive_and_round_trips() {
        for kind in [CodecKind::Pcmu, CodecKind::Pcma, CodecKind::Opus] {
            assert_eq!(CodecKind::from_name(kind.name()), Some(kind));
            assert_eq!(CodecKind::from_name(&kind.name().to_ascii_uppercase()), Some(kind));
            assert_eq!(CodecKind::from_name(&kind.name().to_ascii_lowercase()), Some(kind));
        }
        assert_eq!(CodecKind::from_name("G722"), None);
        assert_eq!(CodecKind::from_name(""), None);
    }

    #[test]
    fn factories_build_working_codecs_for_every_kind() {
        let pcm: Vec<i16> = (0..160).map(|i| ((i % 40) * 200 - 4000) as i16).collect();
        for kind in [CodecKind::Pcmu, CodecKind::Pcma, CodecKind::Opus] {
            let mut enc = encoder(kind).expect("encoder");
            let mut dec = decoder(kind).expect("decoder");
            let mut payload = Vec::new();
            enc.encode(&pcm, &mut payload).expect("encode");
            assert!(!payload.is_empty(), "{kind} produced no payload");
            let mut out = Vec::new();
            dec.decode(&payload, &mut out).expect("decode");
            assert_eq!(out.len(), 160, "{kind} decoded wrong length");
            dec.conceal(&mut out);
            assert_eq!(out.len(), 320, "{kind} concealment wrong length");
        }
    }
}
