//! WAV in and out of the HTTP API: uploaded bytes (any rate, channels and
//! PCM/float format) to mono samples at the rate an engine wants, and mono
//! telephone audio back to WAV bytes. Errors are one line for the client.

use std::io::Cursor;

/// Longest upload the API transcribes: whisper decodes one 30 s window.
pub const MAX_SECONDS: f64 = 30.0;

/// Decodes a WAV file held in memory into mono i16 at `rate`.
pub fn decode_mono(bytes: &[u8], rate: u32) -> Result<Vec<i16>, String> {
    if bytes.is_empty() {
        return Err("the uploaded file is empty".into());
    }
    let mut r =
        hound::WavReader::new(Cursor::new(bytes)).map_err(|e| format!("the file is not a readable WAV file ({e})"))?;
    let spec = r.spec();
    if spec.channels == 0 || spec.sample_rate < 4000 || spec.sample_rate > 192_000 {
        return Err(format!("unsupported WAV: {} channels at {} Hz", spec.channels, spec.sample_rate));
    }
    let ch = spec.channels as usize;
    let seconds = r.duration() as f64 / spec.sample_rate as f64;
    if seconds > MAX_SECONDS {
        return Err(format!("audio is {seconds:.1} s long; at most {MAX_SECONDS:.0} s per request"));
    }
    let samples: Vec<f32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Float, 32) => r.samples::<f32>().collect::<Result<_, _>>(),
        (hound::SampleFormat::Int, bits @ 8..=32) => {
            let scale = 1.0 / (1u64 << (bits - 1)) as f32;
            r.samples::<i32>().map(|s| s.map(|v| v as f32 * scale)).collect::<Result<_, _>>()
        }
        (f, b) => return Err(format!("unsupported WAV sample format {f:?} {b}-bit")),
    }
    .map_err(|e| format!("the WAV data is cut short or corrupt ({e})"))?;
    if samples.len() < ch {
        return Err("the WAV file holds no audio".into());
    }
    crate::stt::mono_i16(&samples, ch, spec.sample_rate, rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_44k_wav_becomes_mono_16k() {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44_100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut buf = Cursor::new(Vec::new());
        {
            let mut w = hound::WavWriter::new(&mut buf, spec).expect("writer");
            for i in 0..44_100 {
                let s = ((i as f32 * 0.05).sin() * 10_000.0) as i16;
                w.write_sample(s).expect("l");
                w.write_sample(s).expect("r");
            }
            w.finalize().expect("finalize");
        }
        let pcm = decode_mono(buf.get_ref(), 16_000).expect("decode");
        assert!((pcm.len() as i64 - 16_000).abs() < 200, "{}", pcm.len());
        assert!(pcm.iter().any(|&s| s.abs() > 5000));
    }

    #[test]
    fn garbage_and_empty_input_are_errors_not_panics() {
        assert!(decode_mono(b"", 16_000).unwrap_err().contains("empty"));
        assert!(decode_mono(b"hello, this is not audio", 16_000).unwrap_err().contains("not a readable WAV"));
        let mut truncated = crate::stt::http::wav_bytes(&[1000; 8000], 8000);
        truncated.truncate(1000);
        assert!(decode_mono(&truncated, 16_000).is_err());
    }
}
