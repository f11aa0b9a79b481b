//! CTranslate2 Whisper → whisper.cpp ggml converter.
//!
//! The only Whisper weights that registries reachable offline carry are
//! faster-whisper (CTranslate2) exports, and whisper.cpp reads only its own
//! ggml file. Both formats are plain containers of named tensors, so the
//! conversion is a renaming and re-layout:
//!
//! * CTranslate2 `model.bin` (binary version 6): `u32 version`, `str spec`,
//!   `u32 revision`, `u32 n_vars`, then per variable `str name, u8 rank,
//!   u32 dims[rank], u8 dtype, u32 n_bytes, bytes`, then `u32 n_aliases` of
//!   `str alias, str target`. Strings are `u16 len` (with NUL) + bytes + NUL.
//!   Self-attention keeps Q, K and V fused in one matrix (`linear_0`), cross
//!   attention K and V fused (`linear_1`), with a zero key bias.
//! * whisper.cpp ggml: magic `ggml`, eleven `i32` hparams, the 80×201 mel
//!   filterbank, the byte-level vocabulary (specials are added by the loader),
//!   then tensors `i32 n_dims, i32 name_len, i32 type, i32 ne[n_dims]
//!   (fastest-varying first), name, data` under whisper.cpp's names.
//!   Matrices are f16; biases, norms, conv biases and positional
//!   embeddings f32 (the loader checks each tensor's byte size).

use std::collections::HashMap;
use std::io::Write;

use thiserror::Error;

use super::le_bytes::{Reader, Truncated};

/// whisper.cpp ggml files start with these bytes (`ggml`, little-endian).
pub const GGML_MAGIC: u32 = 0x6767_6d6c;

#[derive(Debug, Error)]
pub enum ConvertError {
    #[error("not a CTranslate2 model: {0}")]
    Format(String),
    #[error("not a CTranslate2 model: {0}")]
    Truncated(#[from] Truncated),
    #[error("CTranslate2 model lacks variable {0}")]
    Missing(String),
    #[error("variable {name} has dtype {dtype}; only float32 and float16 weights convert (int8 exports do not)")]
    Dtype { name: String, dtype: u8 },
    #[error("tokenizer.json: {0}")]
    Tokenizer(String),
    #[error("writing ggml: {0}")]
    Io(#[from] std::io::Error),
}

const CT2_F32: u8 = 0;
const CT2_F16: u8 = 4;

/// One variable of a CTranslate2 model, borrowing its bytes.
#[derive(Debug, Clone)]
pub struct Ct2Var<'a> {
    pub dims: Vec<usize>,
    pub dtype: u8,
    pub data: &'a [u8],
}

/// The variables of a CTranslate2 `model.bin`, aliases resolved.
pub struct Ct2Model<'a> {
    pub spec: String,
    pub vars: HashMap<String, Ct2Var<'a>>,
}

/// A CTranslate2 string: `u16` length (with the NUL), bytes, NUL.
fn ct2_string(r: &mut Reader) -> Result<String, ConvertError> {
    let n = r.u16()? as usize;
    let b = r.take(n)?;
    let b = b.strip_suffix(&[0]).unwrap_or(b);
    String::from_utf8(b.to_vec()).map_err(|_| ConvertError::Format("variable name is not UTF-8".into()))
}

impl<'a> Ct2Model<'a> {
    pub fn parse(buf: &'a [u8]) -> Result<Ct2Model<'a>, ConvertError> {
        let mut r = Reader::new(buf);
        let version = r.u32()?;
        if !(5..=6).contains(&version) {
            return Err(ConvertError::Format(format!("binary version {version} (expected 5 or 6)")));
        }
        let spec = ct2_string(&mut r)?;
        let _revision = r.u32()?;
        let n = r.u32()? as usize;
        let mut vars = HashMap::with_capacity(n);
        for _ in 0..n {
            let name = ct2_string(&mut r)?;
            let rank = r.u8()? as usize;
            let dims = (0..rank).map(|_| r.u32().map(|d| d as usize)).collect::<Result<Vec<_>, _>>()?;
            let dtype = r.u8()?;
            let n_bytes = r.u32()? as usize;
            let data = r.take(n_bytes)?;
            vars.insert(name, Ct2Var { dims, dtype, data });
        }
        if !r.at_end() {
            let n_alias = r.u32()? as usize;
            for _ in 0..n_alias {
                let alias = ct2_string(&mut r)?;
                let target = ct2_string(&mut r)?;
                if let Some(v) = vars.get(&target).cloned() {
                    vars.insert(alias, v);
                }
            }
        }
        Ok(Ct2Model { spec, vars })
    }

    fn var(&self, name: &str) -> Result<&Ct2Var<'a>, ConvertError> {
        self.vars.get(name).ok_or_else(|| ConvertError::Missing(name.to_string()))
    }

    fn scalar_i32(&self, name: &str) -> Result<i32, ConvertError> {
        let v = self.var(name)?;
        Ok(match v.data.len() {
            1 => v.data[0] as i8 as i32,
            2 => i16::from_le_bytes([v.data[0], v.data[1]]) as i32,
            4 => i32::from_le_bytes(v.data.try_into().expect("4 bytes")),
            n => return Err(ConvertError::Format(format!("{name}: scalar of {n} bytes"))),
        })
    }

    fn count_layers(&self, prefix: &str) -> usize {
        (0..).take_while(|i| self.vars.keys().any(|k| k.starts_with(&format!("{prefix}/layer_{i}/")))).count()
    }
}

/// IEEE half → single precision (exact).
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: normalise.
            let shift = m.leading_zeros() - 21;
            let m = (m << shift) & 0x3ff;
            sign | ((127 - 15 + 1 - shift) << 23) | (m << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// Single → half precision, round to nearest even (overflow → ±inf).
pub fn f32_to_f16(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32;
    let man = b & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if man != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = man | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = 1u32 << (shift - 1);
        let rest = m & ((1 << shift) - 1);
        let mut r = m >> shift;
        if rest > half || (rest == half && r & 1 == 1) {
            r += 1;
        }
        return sign | r as u16;
    }
    let mut r = ((e as u32) << 10) | (man >> 13);
    let rest = man & 0x1fff;
    if rest > 0x1000 || (rest == 0x1000 && r & 1 == 1) {
        r += 1; // may carry into the exponent, which is the right rounding
    }
    sign | r as u16
}

/// Whisper's log-mel filterbank: librosa's `filters.mel(sr, n_fft, n_mels)`
/// with the Slaney mel scale and Slaney area normalisation (the defaults
/// OpenAI used to build `mel_filters.npz`). Row-major `n_mels × (n_fft/2+1)`.
pub fn mel_filters(sample_rate: f64, n_fft: usize, n_mels: usize) -> Vec<f32> {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    let hz_to_mel = |f: f64| if f >= MIN_LOG_HZ { min_log_mel + (f / MIN_LOG_HZ).ln() / logstep } else { f / F_SP };
    let mel_to_hz = |m: f64| if m >= min_log_mel { MIN_LOG_HZ * (logstep * (m - min_log_mel)).exp() } else { F_SP * m };

    let n_bins = n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..n_bins).map(|k| k as f64 * sample_rate / n_fft as f64).collect();
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(sample_rate / 2.0));
    let mel_f: Vec<f64> = (0..n_mels + 2).map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64)).collect();
    let mut w = vec![0f32; n_mels * n_bins];
    for i in 0..n_mels {
        let enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
        for (k, &f) in fft_freqs.iter().enumerate() {
            let lower = (f - mel_f[i]) / (mel_f[i + 1] - mel_f[i]);
            let upper = (mel_f[i + 2] - f) / (mel_f[i + 2] - mel_f[i + 1]);
            w[i * n_bins + k] = (lower.min(upper).max(0.0) * enorm) as f32;
        }
    }
    w
}

/// GPT-2's byte ↔ printable-character table, inverted: the character a
/// byte-level BPE token string uses for each byte → that byte.
fn unicode_to_byte() -> HashMap<char, u8> {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32).chain(0xa1..=0xac).chain(0xae..=0xff).collect();
    let mut chars = printable.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !printable.contains(&b) {
            printable.push(b);
            chars.push(256 + n);
            n += 1;
        }
    }
    printable.iter().zip(&chars).map(|(&b, &c)| (char::from_u32(c).expect("valid char"), b as u8)).collect()
}

/// The byte strings of the ordinary (non-special) tokens, by id, from a
/// Hugging Face `tokenizer.json`. whisper.cpp adds the special tokens itself.
pub fn vocab_from_tokenizer_json(json: &str) -> Result<Vec<Vec<u8>>, ConvertError> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| ConvertError::Tokenizer(e.to_string()))?;
    let vocab = v["model"]["vocab"].as_object().ok_or_else(|| ConvertError::Tokenizer("no model.vocab".into()))?;
    let first_special = v["added_tokens"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t["id"].as_u64()).min().unwrap_or(u64::MAX))
        .unwrap_or(u64::MAX) as usize;
    let decode = unicode_to_byte();
    let mut out: Vec<Option<Vec<u8>>> = vec![None; vocab.len().min(first_special)];
    for (tok, id) in vocab {
        let id = id.as_u64().ok_or_else(|| ConvertError::Tokenizer(format!("id of {tok:?}")))? as usize;
        if id >= out.len() {
            continue;
        }
        let bytes = tok
            .chars()
            .map(|c| decode.get(&c).copied())
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(|| ConvertError::Tokenizer(format!("token {tok:?} is not byte-level BPE")))?;
        out[id] = Some(bytes);
    }
    out.into_iter()
        .enumerate()
        .map(|(i, t)| t.ok_or_else(|| ConvertError::Tokenizer(format!("token id {i} missing"))))
        .collect()
}

#[derive(Clone, Copy, PartialEq)]
enum Ty {
    F32,
    F16,
}

struct GgmlWriter<W: Write> {
    out: W,
    tensors: usize,
}

impl<W: Write> GgmlWriter<W> {
    fn i32(&mut self, v: i32) -> std::io::Result<()> {
        self.out.write_all(&v.to_le_bytes())
    }

    /// Writes `rows × cols` elements starting at `row0` of a row-major CT2
    /// variable (`shape` is the ggml shape, fastest dimension first).
    fn tensor(&mut self, name: &str, shape: &[usize], ty: Ty, src: &Ct2Var, row0: usize) -> Result<(), ConvertError> {
        let n: usize = shape.iter().product();
        let esize = match src.dtype {
            CT2_F32 => 4,
            CT2_F16 => 2,
            d => return Err(ConvertError::Dtype { name: name.into(), dtype: d }),
        };
        let row_len: usize = src.dims.iter().skip(1).product::<usize>().max(1);
        let start = row0 * row_len * esize;
        let bytes = src
            .data
            .get(start..start + n * esize)
            .ok_or_else(|| ConvertError::Format(format!("{name}: variable too small for {shape:?}")))?;
        self.i32(shape.len() as i32)?;
        self.i32(name.len() as i32)?;
        self.i32(if ty == Ty::F32 { 0 } else { 1 })?;
        for &d in shape {
            self.i32(d as i32)?;
        }
        self.out.write_all(name.as_bytes())?;
        let mut buf = Vec::with_capacity(n * 4);
        for c in bytes.chunks_exact(esize) {
            let x = if esize == 2 {
                f16_to_f32(u16::from_le_bytes([c[0], c[1]]))
            } else {
                f32::from_le_bytes(c.try_into().expect("4"))
            };
            match ty {
                Ty::F32 => buf.extend_from_slice(&x.to_le_bytes()),
                Ty::F16 if esize == 2 => buf.extend_from_slice(c),
                Ty::F16 => buf.extend_from_slice(&f32_to_f16(x).to_le_bytes()),
            }
        }
        self.out.write_all(&buf)?;
        self.tensors += 1;
        Ok(())
    }
}

/// What the conversion produced, for the log line.
#[derive(Debug)]
pub struct Converted {
    pub n_vocab: usize,
    pub n_audio_layer: usize,
    pub n_text_layer: usize,
    pub n_state: usize,
    pub tensors: usize,
}

/// Converts a CTranslate2 Whisper model (`model.bin` bytes and its
/// `tokenizer.json`) to a whisper.cpp ggml f16 model written to `out`.
pub fn convert<W: Write>(model_bin: &[u8], tokenizer_json: &str, out: W) -> Result<Converted, ConvertError> {
    let m = Ct2Model::parse(model_bin)?;
    if m.spec != "WhisperSpec" {
        return Err(ConvertError::Format(format!("spec {} is not WhisperSpec", m.spec)));
    }
    let emb = m.var("decoder/embeddings/weight")?;
    let (n_vocab, n_state) = (emb.dims[0], emb.dims[1]);
    let conv1 = m.var("encoder/conv1/weight")?;
    let n_mels = conv1.dims[1];
    let n_audio_ctx = m.var("encoder/position_encodings/encodings")?.dims[0];
    let n_text_ctx = m.var("decoder/position_encodings/encodings")?.dims[0];
    let n_audio_layer = m.count_layers("encoder");
    let n_text_layer = m.count_layers("decoder");
    let n_audio_head = m.scalar_i32("encoder/num_heads")?;
    let n_text_head = m.scalar_i32("decoder/num_heads")?;
    let vocab = vocab_from_tokenizer_json(tokenizer_json)?;

    let mut w = GgmlWriter { out: std::io::BufWriter::new(out), tensors: 0 };
    w.out.write_all(&GGML_MAGIC.to_le_bytes())?;
    for v in [
        n_vocab,
        n_audio_ctx,
        n_state,
        n_audio_head as usize,
        n_audio_layer,
        n_text_ctx,
        n_state,
        n_text_head as usize,
        n_text_layer,
        n_mels,
        1, // ftype: mostly f16
    ] {
        w.i32(v as i32)?;
    }
    let n_fft_bins = 201;
    w.i32(n_mels as i32)?;
    w.i32(n_fft_bins)?;
    for x in mel_filters(16_000.0, 400, n_mels) {
        w.out.write_all(&x.to_le_bytes())?;
    }
    w.i32(vocab.len() as i32)?;
    for t in &vocab {
        w.i32(t.len() as i32)?;
        w.out.write_all(t)?;
    }

    let d = n_state;
    let vec = |w: &mut GgmlWriter<_>, to: &str, from: &str| -> Result<(), ConvertError> {
        w.tensor(to, &[d], Ty::F32, m.var(from)?, 0)
    };
    // Part `part` of a linear layer whose weight fuses `parts` equal blocks of
    // rows (Q|K|V in self-attention, K|V in cross-attention).
    let lin = |w: &mut GgmlWriter<_>,
               to: &str,
               from: &str,
               (part, parts): (usize, usize),
               bias: bool|
     -> Result<(), ConvertError> {
        let wv = m.var(&format!("{from}/weight"))?;
        let cols = wv.dims[1];
        let rows = wv.dims[0] / parts;
        w.tensor(&format!("{to}.weight"), &[cols, rows], Ty::F16, wv, part * rows)?;
        if bias {
            w.tensor(&format!("{to}.bias"), &[rows], Ty::F32, m.var(&format!("{from}/bias"))?, part * rows)?;
        }
        Ok(())
    };
    let norm = |w: &mut GgmlWriter<_>, to: &str, from: &str| -> Result<(), ConvertError> {
        vec(w, &format!("{to}.weight"), &format!("{from}/gamma"))?;
        vec(w, &format!("{to}.bias"), &format!("{from}/beta"))
    };

    // Encoder.
    w.tensor(
        "encoder.positional_embedding",
        &[d, n_audio_ctx],
        Ty::F32,
        m.var("encoder/position_encodings/encodings")?,
        0,
    )?;
    w.tensor("encoder.conv1.weight", &[3, n_mels, d], Ty::F16, conv1, 0)?;
    w.tensor("encoder.conv1.bias", &[1, d], Ty::F32, m.var("encoder/conv1/bias")?, 0)?;
    w.tensor("encoder.conv2.weight", &[3, d, d], Ty::F16, m.var("encoder/conv2/weight")?, 0)?;
    w.tensor("encoder.conv2.bias", &[1, d], Ty::F32, m.var("encoder/conv2/bias")?, 0)?;
    norm(&mut w, "encoder.ln_post", "encoder/layer_norm")?;
    for i in 0..n_audio_layer {
        let (to, from) = (format!("encoder.blocks.{i}"), format!("encoder/layer_{i}"));
        self_attention(&mut w, &lin, &norm, &to, &from)?;
        mlp(&mut w, &lin, &norm, &to, &from)?;
    }

    // Decoder.
    w.tensor(
        "decoder.positional_embedding",
        &[d, n_text_ctx],
        Ty::F32,
        m.var("decoder/position_encodings/encodings")?,
        0,
    )?;
    w.tensor("decoder.token_embedding.weight", &[d, n_vocab], Ty::F16, emb, 0)?;
    norm(&mut w, "decoder.ln", "decoder/layer_norm")?;
    for i in 0..n_text_layer {
        let (to, from) = (format!("decoder.blocks.{i}"), format!("decoder/layer_{i}"));
        self_attention(&mut w, &lin, &norm, &to, &from)?;
        let (cto, cfrom) = (format!("{to}.cross_attn"), format!("{from}/attention"));
        norm(&mut w, &format!("{to}.cross_attn_ln"), &format!("{cfrom}/layer_norm"))?;
        lin(&mut w, &format!("{cto}.query"), &format!("{cfrom}/linear_0"), (0, 1), true)?;
        lin(&mut w, &format!("{cto}.key"), &format!("{cfrom}/linear_1"), (0, 2), false)?;
        lin(&mut w, &format!("{cto}.value"), &format!("{cfrom}/linear_1"), (1, 2), true)?;
        lin(&mut w, &format!("{cto}.out"), &format!("{cfrom}/linear_2"), (0, 1), true)?;
        mlp(&mut w, &lin, &norm, &to, &from)?;
    }
    w.out.flush()?;
    Ok(Converted { n_vocab, n_audio_layer, n_text_layer, n_state, tensors: w.tensors })
}

type Lin<'f, W> = dyn Fn(&mut GgmlWriter<W>, &str, &str, (usize, usize), bool) -> Result<(), ConvertError> + 'f;
type Norm<'f, W> = dyn Fn(&mut GgmlWriter<W>, &str, &str) -> Result<(), ConvertError> + 'f;

fn self_attention<W: Write>(
    w: &mut GgmlWriter<W>,
    lin: &Lin<W>,
    norm: &Norm<W>,
    to: &str,
    from: &str,
) -> Result<(), ConvertError> {
    let f = format!("{from}/self_attention");
    norm(w, &format!("{to}.attn_ln"), &format!("{f}/layer_norm"))?;
    lin(w, &format!("{to}.attn.query"), &format!("{f}/linear_0"), (0, 3), true)?;
    lin(w, &format!("{to}.attn.key"), &format!("{f}/linear_0"), (1, 3), false)?;
    lin(w, &format!("{to}.attn.value"), &format!("{f}/linear_0"), (2, 3), true)?;
    lin(w, &format!("{to}.attn.out"), &format!("{f}/linear_1"), (0, 1), true)
}

fn mlp<W: Write>(
    w: &mut GgmlWriter<W>,
    lin: &Lin<W>,
    norm: &Norm<W>,
    to: &str,
    from: &str,
) -> Result<(), ConvertError> {
    norm(w, &format!("{to}.mlp_ln"), &format!("{from}/ffn/layer_norm"))?;
    lin(w, &format!("{to}.mlp.0"), &format!("{from}/ffn/linear_0"), (0, 1), true)?;
    lin(w, &format!("{to}.mlp.2"), &format!("{from}/ffn/linear_1"), (0, 1), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_round_trips_and_rounds_to_nearest_even() {
        for h in [0u16, 0x8000, 0x3c00, 0xbc00, 0x7bff, 0x0001, 0x03ff, 0x0400, 0x7c00, 0x3555] {
            assert_eq!(f32_to_f16(f16_to_f32(h)), h, "{h:#06x}");
        }
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        // 1 + 2^-11 lies halfway between 1 and the next half; ties go to even (1.0).
        assert_eq!(f32_to_f16(1.0 + 2f32.powi(-11)), 0x3c00);
        assert_eq!(f32_to_f16(1e6), 0x7c00);
    }

    #[test]
    fn mel_filterbank_matches_whisper_shape_and_slaney_normalisation() {
        let w = mel_filters(16_000.0, 400, 80);
        assert_eq!(w.len(), 80 * 201);
        // Each triangle has area-normalised height 2/(f_hi − f_lo); bin k is 40k Hz.
        // Filter 0 spans 0..~66.7 Hz mel-linear: peak weight at bin 1 (40 Hz).
        let row0 = &w[..201];
        let peak = row0.iter().cloned().fold(0f32, f32::max);
        assert!((peak - 0.0248).abs() < 0.002, "{peak}");
        assert!(w.iter().all(|&x| x >= 0.0));
        // Every filter has some weight, and the last one reaches near 8 kHz.
        assert!(w.chunks(201).all(|r| r.iter().any(|&x| x > 0.0)));
        assert!(w[79 * 201 + 190..80 * 201].iter().any(|&x| x > 0.0));
    }

    #[test]
    fn byte_level_vocabulary_decodes_to_bytes() {
        let json = r#"{"model":{"vocab":{"!":0,"Ġthe":1,"ì":2,"<|endoftext|>":3}},
                       "added_tokens":[{"id":3,"content":"<|endoftext|>"}]}"#;
        let v = vocab_from_tokenizer_json(json).unwrap();
        assert_eq!(v, vec![b"!".to_vec(), b" the".to_vec(), vec![0xec]]);
    }

    /// A tiny synthetic CTranslate2 Whisper model (1 layer each side,
    /// width 4, 2 heads) → ggml: header, names and shapes as whisper.cpp's
    /// loader expects them.
    #[test]
    fn converts_a_synthetic_ct2_whisper_model() {
        let d = 4usize;
        let mut vars: Vec<(String, Vec<usize>)> = vec![
            ("encoder/conv1/weight".into(), vec![d, 80, 3]),
            ("encoder/conv1/bias".into(), vec![d]),
            ("encoder/conv2/weight".into(), vec![d, d, 3]),
            ("encoder/conv2/bias".into(), vec![d]),
            ("encoder/position_encodings/encodings".into(), vec![6, d]),
            ("encoder/layer_norm/gamma".into(), vec![d]),
            ("encoder/layer_norm/beta".into(), vec![d]),
            ("decoder/embeddings/weight".into(), vec![5, d]),
            ("decoder/position_encodings/encodings".into(), vec![3, d]),
            ("decoder/layer_norm/gamma".into(), vec![d]),
            ("decoder/layer_norm/beta".into(), vec![d]),
        ];
        for side in ["encoder", "decoder"] {
            let l = format!("{side}/layer_0");
            let mut add = |n: &str, s: Vec<usize>| vars.push((format!("{l}/{n}"), s));
            for ln in ["self_attention/layer_norm", "ffn/layer_norm"] {
                add(&format!("{ln}/gamma"), vec![d]);
                add(&format!("{ln}/beta"), vec![d]);
            }
            add("self_attention/linear_0/weight", vec![3 * d, d]);
            add("self_attention/linear_0/bias", vec![3 * d]);
            add("self_attention/linear_1/weight", vec![d, d]);
            add("self_attention/linear_1/bias", vec![d]);
            add("ffn/linear_0/weight", vec![4 * d, d]);
            add("ffn/linear_0/bias", vec![4 * d]);
            add("ffn/linear_1/weight", vec![d, 4 * d]);
            add("ffn/linear_1/bias", vec![d]);
            if side == "decoder" {
                add("attention/layer_norm/gamma", vec![d]);
                add("attention/layer_norm/beta", vec![d]);
                add("attention/linear_0/weight", vec![d, d]);
                add("attention/linear_0/bias", vec![d]);
                add("attention/linear_1/weight", vec![2 * d, d]);
                add("attention/linear_1/bias", vec![2 * d]);
                add("attention/linear_2/weight", vec![d, d]);
                add("attention/linear_2/bias", vec![d]);
            }
        }
        let mut bin = Vec::new();
        let s = |b: &mut Vec<u8>, t: &str| {
            b.extend_from_slice(&((t.len() + 1) as u16).to_le_bytes());
            b.extend_from_slice(t.as_bytes());
            b.push(0);
        };
        bin.extend_from_slice(&6u32.to_le_bytes());
        s(&mut bin, "WhisperSpec");
        bin.extend_from_slice(&3u32.to_le_bytes());
        bin.extend_from_slice(&((vars.len() + 2) as u32).to_le_bytes());
        for (name, shape) in &vars {
            s(&mut bin, name);
            bin.push(shape.len() as u8);
            for &x in shape {
                bin.extend_from_slice(&(x as u32).to_le_bytes());
            }
            bin.push(CT2_F16);
            let n: usize = shape.iter().product();
            bin.extend_from_slice(&((n * 2) as u32).to_le_bytes());
            // Element i holds i (as f16), so slices can be checked.
            for i in 0..n {
                bin.extend_from_slice(&f32_to_f16(i as f32).to_le_bytes());
            }
        }
        for side in ["encoder", "decoder"] {
            s(&mut bin, &format!("{side}/num_heads"));
            bin.push(0);
            bin.push(2); // int16
            bin.extend_from_slice(&2u32.to_le_bytes());
            bin.extend_from_slice(&2i16.to_le_bytes());
        }
        bin.extend_from_slice(&0u32.to_le_bytes());
        let tok = r#"{"model":{"vocab":{"a":0,"b":1,"<|endoftext|>":2}},"added_tokens":[{"id":2}]}"#;
        let mut out = Vec::new();
        let c = convert(&bin, tok, &mut out).unwrap();
        assert_eq!((c.n_vocab, c.n_audio_layer, c.n_text_layer, c.tensors), (5, 1, 1, 7 + 15 + 4 + 24));

        let i32_at = |o: usize| i32::from_le_bytes(out[o..o + 4].try_into().unwrap());
        assert_eq!(i32_at(0), 0x6767_6d6c);
        let hp: Vec<i32> = (0..11).map(|k| i32_at(4 + 4 * k)).collect();
        assert_eq!(hp, [5, 6, 4, 2, 1, 3, 4, 2, 1, 80, 1]);
        // Walk the tensors: find the self-attention key of encoder layer 0,
        // rows d..2d of the fused QKV weight.
        let mut o = 48 + 8 + 80 * 201 * 4;
        let n_tok = i32_at(o) as usize;
        o += 4;
        for _ in 0..n_tok {
            o += 4 + i32_at(o) as usize;
        }
        let mut found = std::collections::HashMap::new();
        while o < out.len() {
            let (nd, nl, ty) = (i32_at(o) as usize, i32_at(o + 4) as usize, i32_at(o + 8));
            let ne: Vec<usize> = (0..nd).map(|k| i32_at(o + 12 + 4 * k) as usize).collect();
            let name = String::from_utf8(out[o + 12 + 4 * nd..o + 12 + 4 * nd + nl].to_vec()).unwrap();
            let data = o + 12 + 4 * nd + nl;
            let n: usize = ne.iter().product();
            found.insert(name, (ne, ty, data));
            o = data + n * if ty == 0 { 4 } else { 2 };
        }
        assert_eq!(o, out.len());
        let (ne, ty, at) = &found["encoder.blocks.0.attn.key.weight"];
        assert_eq!((ne.as_slice(), *ty), (&[d, d][..], 1));
        let first = f16_to_f32(u16::from_le_bytes([out[*at], out[at + 1]]));
        assert_eq!(first, (d * d) as f32, "key rows start after the query rows");
        let (ne, ty, at) = &found["decoder.blocks.0.cross_attn.value.bias"];
        assert_eq!((ne.as_slice(), *ty), (&[d][..], 0));
        assert_eq!(f32::from_le_bytes(out[*at..at + 4].try_into().unwrap()), d as f32);
        assert_eq!(found["encoder.conv1.bias"].0, [1, d]);
        assert_eq!(found["encoder.conv1.weight"].0, [3, 80, d]);
        assert_eq!(found["decoder.token_embedding.weight"].0, [d, 5]);
        assert!(!found.contains_key("encoder.blocks.0.attn.key.bias"));
    }
}
