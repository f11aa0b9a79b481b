//! ITU-T G.711 μ-law (PCMU) and A-law (PCMA).
//!
//! Encoding follows the classic segment/mantissa algorithm; decoding uses
//! 256-entry tables computed at compile time.

use super::{CodecError, Decoder, Encoder, SAMPLES_PER_FRAME_8K};

/// μ-law bias added before segment search.
const ULAW_BIAS: i32 = 0x84;
/// Largest magnitude representable by μ-law before the bias is added.
const ULAW_CLIP: i32 = 32635;

/// Encodes one 16-bit linear sample as μ-law.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign: u8 = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    if s > ULAW_CLIP {
        s = ULAW_CLIP;
    }
    s += ULAW_BIAS;
    // s is in [0x84, 0x7FFF]; the segment is the position of the highest set
    // bit among bits 7..=14.
    let top = (s >> 7) as u8; // 1..=255
    let exponent = 7 - top.leading_zeros() as i32;
    let mantissa = ((s >> (exponent + 3)) & 0x0F) as u8;
    !(sign | ((exponent as u8) << 4) | mantissa)
}

const fn ulaw_decode_const(code: u8) -> i16 {
    let u = !code;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn alaw_decode_const(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    if a & 0x80 != 0 {
        t as i16
    } else {
        -t as i16
    }
}

const fn build_table(alaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if alaw { alaw_decode_const(i as u8) } else { ulaw_decode_const(i as u8) };
        i += 1;
    }
    table
}

static ULAW_TABLE: [i16; 256] = build_table(false);
static ALAW_TABLE: [i16; 256] = build_table(true);

/// Decodes one μ-law byte to a 16-bit linear sample.
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TABLE[usize::from(code)]
}

/// Segment end points for A-law, on the 13-bit magnitude scale.
const ALAW_SEG_END: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];

/// Linear audio through G.711 μ-law and back: what the line does to it.
pub fn through_ulaw(pcm: &[i16]) -> Vec<i16> {
    pcm.iter().map(|&s| ulaw_to_linear(linear_to_ulaw(s))).collect()
}

/// Encodes one 16-bit linear sample as A-law.
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut v = i32::from(sample) >> 3;
    let mask: u8 = if v >= 0 {
        0xD5
    } else {
        v = -v - 1;
        0x55
    };
    let seg = ALAW_SEG_END.iter().position(|&end| v <= end);
    let code = match seg {
        // Cannot happen for 16-bit input (max 4095 after the shift), but
        // clamp to the largest code rather than trusting that.
        None => 0x7F,
        Some(seg) => {
            let mantissa = if seg < 2 { v >> 1 } else { v >> seg } & 0x0F;
            ((seg as u8) << 4) | mantissa as u8
        }
    };
    code ^ mask
}

/// Decodes one A-law byte to a 16-bit linear sample.
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TABLE[usize::from(code)]
}

/// μ-law byte for digital silence.
pub const ULAW_SILENCE: u8 = 0xFF;
/// A-law byte for digital silence.
pub const ALAW_SILENCE: u8 = 0xD5;

/// PCMU encoder (stateless).
#[derive(Debug, Default, Clone, Copy)]
pub struct UlawEncoder;

/// PCMU decoder (stateless; concealment is silence).
#[derive(Debug, Default, Clone, Copy)]
pub struct UlawDecoder;

/// PCMA encoder (stateless).
#[derive(Debug, Default, Clone, Copy)]
pub struct AlawEncoder;

/// PCMA decoder (stateless; concealment is silence).
#[derive(Debug, Default, Clone, Copy)]
pub struct AlawDecoder;

impl Encoder for UlawEncoder {
    fn encode(&mut self, pcm8k: &[i16], out: &mut Vec<u8>) -> Result<(), CodecError> {
        out.extend(pcm8k.iter().map(|&s| linear_to_ulaw(s)));
        Ok(())
    }
}

impl Decoder for UlawDecoder {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
        if payload.is_empty() {
            return Err(CodecError::EmptyPayload);
        }
        out.extend(payload.iter().map(|&b| ulaw_to_linear(b)));
        Ok(())
    }

    fn conceal(&mut self, out: &mut Vec<i16>) {
        out.extend(std::iter::repeat_n(0i16, SAMPLES_PER_FRAME_8K));
    }
}

impl Encoder for AlawEncoder {
    fn encode(&mut self, pcm8k: &[i16], out: &mut Vec<u8>) -> Result<(), CodecError> {
        out.extend(pcm8k.iter().map(|&s| linear_to_alaw(s)));
        Ok(())
    }
}

impl Decoder for AlawDecoder {
    fn decode(&mut self, payload: &[u8], out: &mut Vec<i16>) -> Result<(), CodecError> {
        if payload.is_empty() {
            return Err(CodecError::EmptyPayload);
        }
        out.extend(payload.iter().map(|&b| alaw_to_linear(b)));
        Ok(())
    }

    fn conceal(&mut self, out: &mut Vec<i16>) {
        out.extend(std::iter::repeat_n(0i16, SAMPLES_PER_FRAME_8K));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Largest error allowed by the logarithmic quantiser: half a step in the
    /// sample's segment, i.e. about |x|/32, with a floor for the linear segments.
    fn allowed_error(x: i16) -> i32 {
        (i32::from(x).abs() + 132) / 32 + 16
    }

    #[test]
    fn ulaw_round_trip_error_is_bounded_over_whole_range() {
        for x in i16::MIN..=i16::MAX {
            let y = ulaw_to_linear(linear_to_ulaw(x));
            let err = (i32::from(x) - i32::from(y)).abs();
            assert!(err <= allowed_error(x), "x={x} y={y} err={err}");
            // Sign must be preserved (0 may decode either way as 0).
            assert!(i32::from(x) * i32::from(y) >= 0, "sign flip x={x} y={y}");
        }
    }

    #[test]
    fn alaw_round_trip_error_is_bounded_over_whole_range() {
        for x in i16::MIN..=i16::MAX {
            let y = alaw_to_linear(linear_to_alaw(x));
            let err = (i32::from(x) - i32::from(y)).abs();
            assert!(err <= allowed_error(x), "x={x} y={y} err={err}");
            if x.unsigned_abs() > 16 {
                assert!(i32::from(x) * i32::from(y) > 0, "sign flip x={x} y={y}");
            }
        }
    }

    #[test]
    fn every_code_survives_decode_then_encode() {
        for code in 0..=255u8 {
            // 0x7F (negative zero in μ-law) decodes to 0, which encodes as 0xFF.
            if code != 0x7F {
                assert_eq!(linear_to_ulaw(ulaw_to_linear(code)), code, "ulaw {code:#x}");
            }
            assert_eq!(linear_to_alaw(alaw_to_linear(code)), code, "alaw {code:#x}");
        }
    }

    #[test]
    fn ulaw_matches_reference_values() {
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0xFE), 8);
        assert_eq!(ulaw_to_linear(0xF0), 120);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_ulaw(1000), 0xCE);
        assert_eq!(linear_to_ulaw(-1000), 0x4E);
    }

    #[test]
    fn alaw_matches_reference_values() {
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
        assert_eq!(linear_to_alaw(1000), 0xFA);
        assert_eq!(linear_to_alaw(-1000), 0x7A);
    }

    #[test]
    fn silence_encodes_to_standard_idle_codes() {
        assert_eq!(linear_to_ulaw(0), ULAW_SILENCE);
        assert_eq!(linear_to_alaw(0), ALAW_SILENCE);
        let mut enc = UlawEncoder;
        let mut out = Vec::new();
        enc.encode(&[0; 160], &mut out).expect("encode");
        assert!(out.iter().all(|&b| b == 0xFF));
        let mut enc = AlawEncoder;
        out.clear();
        enc.encode(&[0; 160], &mut out).expect("encode");
        assert!(out.iter().all(|&b| b == 0xD5));
    }

    #[test]
    fn decode_tables_are_monotonic_per_sign() {
        // μ-law: codes 0x80..=0xFF are positive, decreasing in magnitude.
        for c in 0x80u8..0xFF {
            assert!(ulaw_to_linear(c) > ulaw_to_linear(c + 1));
        }
        for c in 0x00u8..0x7F {
            assert!(ulaw_to_linear(c) < ulaw_to_linear(c + 1));
        }
        // A-law after removing the even-bit inversion is monotonic too.
        let mut prev = 0;
        for c in 0x00u8..=0x7F {
            let v = alaw_to_linear((c | 0x80) ^ 0x55);
            assert!(v > prev, "code {c:#x}");
            prev = v;
        }
    }

    #[test]
    fn decoders_append_and_conceal_with_silence() {
        let mut dec = UlawDecoder;
        let mut out = vec![7i16];
        dec.decode(&[0xFF, 0x80], &mut out).expect("decode");
        assert_eq!(out, vec![7, 0, 32124]);
        dec.conceal(&mut out);
        assert_eq!(out.len(), 3 + 160);
        assert!(out[3..].iter().all(|&s| s == 0));
        assert!(matches!(dec.decode(&[], &mut out), Err(CodecError::EmptyPayload)));

        let mut dec = AlawDecoder;
        let mut out = Vec::new();
        dec.decode(&[0xD5, 0x2A], &mut out).expect("decode");
        assert_eq!(out, vec![8, -32256]);
        dec.conceal(&mut out);
        assert_eq!(out.len(), 162);
    }
}
