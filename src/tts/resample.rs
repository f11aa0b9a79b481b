//! Whole-buffer sample-rate conversion (rubato's FFT resampler), used for
//! prompts (22.05 kHz TTS → 8 kHz telephone audio).

use rubato::{FftFixedIn, Resampler};

pub fn resample(input: &[f32], from: u32, to: u32) -> Result<Vec<f32>, String> {
    if from == to || input.is_empty() {
        return Ok(input.to_vec());
    }
    let chunk = 1024;
    let mut r = FftFixedIn::<f32>::new(from as usize, to as usize, chunk, 2, 1).map_err(|e| e.to_string())?;
    let delay = r.output_delay();
    let expected = (input.len() as u64 * to as u64 / from as u64) as usize;
    let mut out = Vec::with_capacity(expected + delay + chunk);
    let mut pos = 0;
    while pos < input.len() {
        let need = r.input_frames_next();
        let end = (pos + need).min(input.len());
        let block = &input[pos..end];
        let res = if block.len() == need { r.process(&[block], None) } else { r.process_partial(Some(&[block]), None) };
        out.extend_from_slice(&res.map_err(|e| e.to_string())?[0]);
        pos = end;
    }
    // Flush the filter tail so the last syllable is not cut.
    while out.len() < expected + delay {
        let res = r.process_partial::<&[f32]>(None, None).map_err(|e| e.to_string())?;
        if res[0].is_empty() {
            break;
        }
        out.extend_from_slice(&res[0]);
    }
    let end = (delay + expected).min(out.len());
    Ok(out[delay.min(end)..end].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_duration_and_tone() {
        let sr = 22_050;
        let tone: Vec<f32> =
            (0..sr).map(|i| (i as f32 * 440.0 * std::f32::consts::TAU / sr as f32).sin() * 0.5).collect();
        let out = resample(&tone, sr, 8000).expect("resample");
        assert_eq!(out.len(), 8000);
        // Zero crossings of a 440 Hz tone over one second: about 880.
        let zc = out.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count();
        assert!((860..=900).contains(&zc), "{zc}");
        let rms = (out[1000..7000].iter().map(|x| x * x).sum::<f32>() / 6000.0).sqrt();
        assert!((rms - 0.3535).abs() < 0.03, "{rms}");
    }
}
