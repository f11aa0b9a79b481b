//! Opus (RFC 7587) via libopus, running the codec at 8 kHz mono.
//!
//! Opus always carries a 48 kHz RTP clock, but libopus can encode from and
//! decode to 8 kHz directly, which matches the agent's internal PCM format.
//! Stereo packets from the far end are down-mixed by the mono decoder.

use audiopus::coder::{Decoder as RawDecoder, Encoder as RawEncoder};
use audiopus::packet::Packet;
use audiopus::{Application, Channels, MutSignals, SampleRate};

use super::{CodecError, Decoder, Encoder, SAMPLES_PER_FRAME_8K};

/// Largest Opus packet per frame (RFC 6716 §3.4 says 1275 bytes per frame).
const MAX_PACKET: usize = 1500;
/// One Opus packet can carry up to 120 ms: 960 samples at 8 kHz.
const MAX_DECODED_SAMPLES: usize = 960;
/// Frame sizes Opus accepts at 8 kHz: 2.5, 5, 10, 20, 40 and 60 ms.
const VALID_FRAME_SIZES: [usize; 6] = [20, 40, 80, 160, 320, 480];

/// Opus encoder at 8 kHz mono, VoIP application.
pub struct OpusEncoder {
    inner: RawEncoder,
    scratch: Vec<u8>,
}

impl OpusEncoder {
    /// Creates an encoder (8 kHz, mono, `Application::Voip`).
    pub fn new() -> Result<Self, CodecError> {
        let inner = RawEncoder::new(SampleRate::Hz8000, Channels::Mono, Application::Voip)
            .map_err(|e| CodecError::OpusInit(e.to_string()))?;
        Ok(Self { inner, scratch: vec![0u8; MAX_PACKET] })
    }
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder").finish_non_exhaustive()
    }
}

impl Encoder for OpusEncoder {
    fn encode(&mut self, pcm8k: &[i16], out: &mut Vec<u8>) -> Result<(), CodecError> {
        if !VALID_FRAME_SIZES.contains(&pcm8k.len()) {
            return Err(CodecError::BadFrameLength(pcm8k.len()));
        }
        let n = self.inner.encode(pcm8k, &mut self.scratch).map_err(|e| CodecError::OpusEncode(e.to_string()))?;
        let bytes = self.scratch.get(..n).ok_or_else(|| CodecError::OpusEncode(format!("bad packet length {n}")))?;
        out.extend_from_slice(bytes);
        Ok(())
    }
}

/// Opus decoder producing 8 kHz mono, with libopus packet loss concealment.
pub struct OpusDecoder {
    inner: RawDecoder,
    scratch: Vec<i16>,
}

impl OpusDecoder {
    /// Creates a decoder (8 kHz, mono).
    pub fn new() -> Result<Self, CodecError> {
        let inner =
            RawDecoder::new(SampleRate::Hz8000, Channels::Mono).map_err(|e| CodecError::OpusInit(e.to_string()))?;
        Ok(Self { inner, scratch: vec![0i16; MAX_DECODED_SAMPLES] })
    }
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder").finish_non_exhaustive()
    }
}

impl Decoder for OpusDecoder {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
        let packet = Packet::try_from(payload).map_err(|_| CodecError::EmptyPayload)?;
        let signals = MutSignals::try_from(&mut self.scratch[..]).map_err(|e| CodecError::OpusDecode(e.to_string()))?;
        let n = self.inner.decode(Some(packet), signals, false).map_err(|e| CodecError::OpusDecode(e.to_string()))?;
        let samples = self.scratch.get(..n).ok_or_else(|| CodecError::OpusDecode(format!("bad sample count {n}")))?;
        out.extend_from_slice(samples);
        Ok(())
    }

    fn conceal(&mut self, out: &mut Vec<i16>) {
        let frame = &mut self.scratch[..SAMPLES_PER_FRAME_8K];
        let decoded =
            MutSignals::try_from(&mut frame[..]).ok().and_then(|signals| self.inner.decode(None, signals, false).ok());
        match decoded {
            Some(n) if n == SAMPLES_PER_FRAME_8K => out.extend_from_slice(frame),
            _ => out.extend(std::iter::repeat_n(0i16, SAMPLES_PER_FRAME_8K)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, amplitude: f64, n: usize, phase0: usize) -> Vec<i16> {
        (0..n)
            .map(|i| {
                let t = (i + phase0) as f64 / 8000.0;
                (amplitude * (2.0 * std::f64::consts::PI * freq * t).sin()) as i16
            })
            .collect()
    }

    fn energy(samples: &[i16]) -> f64 {
        samples.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / samples.len() as f64
    }

    #[test]
    fn sine_survives_encode_decode_with_comparable_energy() {
        let mut enc = OpusEncoder::new().expect("encoder");
        let mut dec = OpusDecoder::new().expect("decoder");
        let mut decoded = Vec::new();
        let mut original = Vec::new();
        // Opus has a few ms of algorithmic delay and needs a couple of frames
        // to settle, so run several 20 ms frames and compare the tail.
        for frame in 0..10 {
            let pcm = sine(440.0, 8000.0, 160, frame * 160);
            let mut payload = Vec::new();
            enc.encode(&pcm, &mut payload).expect("encode");
            assert!(!payload.is_empty() && payload.len() < 400);
            dec.decode(&payload, &mut decoded).expect("decode");
            original.extend_from_slice(&pcm);
        }
        assert_eq!(decoded.len(), original.len());
        let e_in = energy(&original[800..]);
        let e_out = energy(&decoded[800..]);
        let ratio = e_out / e_in;
        assert!((0.5..2.0).contains(&ratio), "energy ratio {ratio} (in {e_in}, out {e_out})");
    }

    #[test]
    fn single_20ms_frame_decodes_to_160_samples() {
        let mut enc = OpusEncoder::new().expect("encoder");
        let mut dec = OpusDecoder::new().expect("decoder");
        let mut payload = Vec::new();
        enc.encode(&sine(440.0, 8000.0, 160, 0), &mut payload).expect("encode");
        let mut out = Vec::new();
        dec.decode(&payload, &mut out).expect("decode");
        assert_eq!(out.len(), 160);
        assert!(energy(&out) > 0.0);
    }

    #[test]
    fn rejects_frame_lengths_opus_cannot_encode() {
        let mut enc = OpusEncoder::new().expect("encoder");
        let mut out = Vec::new();
        assert!(matches!(enc.encode(&[0i16; 100], &mut out), Err(CodecError::BadFrameLength(100))));
        assert!(out.is_empty());
    }

    #[test]
    fn corrupt_or_empty_payload_is_an_error_not_a_panic() {
        let mut dec = OpusDecoder::new().expect("decoder");
        let mut out = Vec::new();
        assert!(matches!(dec.decode(&[], &mut out), Err(CodecError::EmptyPayload)));
        // TOC code 3 (arbitrary frame count) with no frame-count byte is invalid.
        assert!(dec.decode(&[0x03], &mut out).is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn conceal_produces_one_frame_after_audio() {
        let mut enc = OpusEncoder::new().expect("encoder");
        let mut dec = OpusDecoder::new().expect("decoder");
        let mut out = Vec::new();
        for frame in 0..5 {
            let mut payload = Vec::new();
            enc.encode(&sine(300.0, 6000.0, 160, frame * 160), &mut payload).expect("encode");
            dec.decode(&payload, &mut out).expect("decode");
        }
        let before = out.len();
        dec.conceal(&mut out);
        assert_eq!(out.len(), before + 160);
        // PLC continues the waveform rather than emitting pure silence.
        assert!(energy(&out[before..]) > 0.0);
    }
}
