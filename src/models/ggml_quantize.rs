//! whisper.cpp ggml f16 → q8_0, in Rust (what whisper.cpp's `quantize`
//! example does; no registry carries a quantized whisper base).
//!
//! Every f16 matrix (a 2-D tensor stored as f16: the attention, MLP and
//! token-embedding weights the loader creates with the model's weight type)
//! becomes q8_0: blocks of 32 values, each an f16 scale `d = max|x| / 127`
//! and 32 `i8` `round(x / d)` (34 bytes, ggml's `block_q8_0`). Biases,
//! norms, convolutions and positional embeddings stay as they are. The
//! header's `ftype` becomes ggml's "mostly q8_0" (7) plus the quantization
//! version (2) × 1000, as whisper.cpp writes it. The file layout is
//! described in [`super::ct2_whisper`].

use std::io::Write;

use super::ct2_whisper::{f16_to_f32, f32_to_f16, GGML_MAGIC};
use super::le_bytes::Reader;

const GGML_F32: i32 = 0;
const GGML_F16: i32 = 1;
const GGML_Q8_0: i32 = 8;
/// `GGML_FTYPE_MOSTLY_Q8_0 + GGML_QNT_VERSION * GGML_QNT_VERSION_FACTOR`.
const FTYPE_Q8_0: i32 = 7 + 2 * 1000;
const QK8_0: usize = 32;

/// What a quantization did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantized {
    pub tensors: usize,
    pub quantized: usize,
    pub bytes_in: usize,
    pub bytes_out: usize,
}

/// A count or size field, checked against what a sane file holds.
fn count(r: &mut Reader, what: &str, max: usize) -> anyhow::Result<usize> {
    let n = r.i32()?;
    usize::try_from(n).ok().filter(|&n| n <= max).ok_or_else(|| anyhow::anyhow!("bad {what} {n}"))
}

/// Quantizes the whisper.cpp ggml model `model` (f16) to q8_0 into `out`.
pub fn quantize_q8_0(model: &[u8], mut out: impl Write) -> anyhow::Result<Quantized> {
    let mut r = Reader::new(model);
    if r.take(4)? != GGML_MAGIC.to_le_bytes() {
        anyhow::bail!("not a whisper.cpp ggml model (bad magic)");
    }
    let mut hparams = [0i32; 11];
    for h in hparams.iter_mut() {
        *h = r.i32()?;
    }
    if hparams[10] % 1000 != 1 {
        anyhow::bail!("only f16 models quantize (this one's ftype is {})", hparams[10]);
    }
    hparams[10] = FTYPE_Q8_0;
    out.write_all(&GGML_MAGIC.to_le_bytes())?;
    for h in hparams {
        out.write_all(&h.to_le_bytes())?;
    }
    // Mel filters and vocabulary: copied as they are.
    let start = r.pos();
    let (n_mel, n_fft) = (count(&mut r, "mel count", 1 << 12)?, count(&mut r, "fft size", 1 << 12)?);
    r.take(4 * n_mel * n_fft)?;
    let n_vocab = count(&mut r, "vocabulary size", 1 << 20)?;
    for _ in 0..n_vocab {
        let len = count(&mut r, "token length", 1 << 16)?;
        r.take(len)?;
    }
    out.write_all(&model[start..r.pos()])?;
    let mut q = Quantized { tensors: 0, quantized: 0, bytes_in: model.len(), bytes_out: r.pos() };
    let mut values = Vec::new();
    let mut block = Vec::new();
    while !r.at_end() {
        let (n_dims, name_len, ttype) =
            (count(&mut r, "tensor rank", 4)?, count(&mut r, "name length", 1 << 12)?, r.i32()?);
        let mut ne = Vec::with_capacity(n_dims);
        for _ in 0..n_dims {
            ne.push(count(&mut r, "tensor dimension", 1 << 24)?);
        }
        let name = r.take(name_len)?;
        let n: usize = ne.iter().product();
        let width = match ttype {
            GGML_F32 => 4,
            GGML_F16 => 2,
            t => anyhow::bail!("tensor {} has type {t}: only f32/f16 models quantize", String::from_utf8_lossy(name)),
        };
        let data = r.take(n * width)?;
        let quantize = ttype == GGML_F16 && n_dims == 2 && ne[0] % QK8_0 == 0;
        out.write_all(&(n_dims as i32).to_le_bytes())?;
        out.write_all(&(name_len as i32).to_le_bytes())?;
        out.write_all(&(if quantize { GGML_Q8_0 } else { ttype }).to_le_bytes())?;
        for d in &ne {
            out.write_all(&(*d as i32).to_le_bytes())?;
        }
        out.write_all(name)?;
        q.bytes_out += 12 + 4 * n_dims + name_len;
        q.tensors += 1;
        if !quantize {
            out.write_all(data)?;
            q.bytes_out += data.len();
            continue;
        }
        values.clear();
        values.extend(data.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))));
        block.clear();
        for chunk in values.chunks_exact(QK8_0) {
            q8_0_block(chunk, &mut block);
        }
        out.write_all(&block)?;
        q.bytes_out += block.len();
        q.quantized += 1;
    }
    Ok(q)
}

/// One `block_q8_0` (ggml's reference quantization) appended to `out`.
fn q8_0_block(x: &[f32], out: &mut Vec<u8>) {
    let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    out.extend_from_slice(&f32_to_f16(d).to_le_bytes());
    out.extend(x.iter().map(|v| ((v * id).round() as i8) as u8));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(out: &mut Vec<u8>, name: &str, ttype: i32, ne: &[usize], values: &[f32]) {
        out.extend_from_slice(&(ne.len() as i32).to_le_bytes());
        out.extend_from_slice(&(name.len() as i32).to_le_bytes());
        out.extend_from_slice(&ttype.to_le_bytes());
        for d in ne {
            out.extend_from_slice(&(*d as i32).to_le_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        for v in values {
            match ttype {
                GGML_F16 => out.extend_from_slice(&f32_to_f16(*v).to_le_bytes()),
                _ => out.extend_from_slice(&v.to_le_bytes()),
            }
        }
    }

    fn model() -> Vec<u8> {
        let mut m = GGML_MAGIC.to_le_bytes().to_vec();
        for h in [3i32, 1500, 64, 1, 1, 448, 64, 1, 1, 2, 1] {
            m.extend_from_slice(&h.to_le_bytes());
        }
        // 2 mels × 3 fft bins, then a vocabulary of 3 tokens.
        m.extend_from_slice(&2i32.to_le_bytes());
        m.extend_from_slice(&3i32.to_le_bytes());
        for i in 0..6 {
            m.extend_from_slice(&(i as f32).to_le_bytes());
        }
        m.extend_from_slice(&3i32.to_le_bytes());
        for t in ["a", "독감", "!"] {
            m.extend_from_slice(&(t.len() as i32).to_le_bytes());
            m.extend_from_slice(t.as_bytes());
        }
        let w: Vec<f32> = (0..64 * 2).map(|i| (i as f32 - 64.0) / 50.0).collect();
        tensor(&mut m, "decoder.token_embedding.weight", GGML_F16, &[64, 2], &w);
        tensor(&mut m, "decoder.ln.bias", GGML_F32, &[64], &[0.5; 64]);
        tensor(&mut m, "encoder.conv1.weight", GGML_F16, &[3, 2, 64], &[0.25; 3 * 2 * 64]);
        m
    }

    #[test]
    fn matrices_become_q8_0_and_everything_else_is_kept() {
        let m = model();
        let mut out = Vec::new();
        let q = quantize_q8_0(&m, &mut out).unwrap();
        assert_eq!((q.tensors, q.quantized, q.bytes_out), (3, 1, out.len()));
        // Header: ftype rewritten, the rest (and mels, vocabulary) identical.
        assert_eq!(i32::from_le_bytes(out[44..48].try_into().unwrap()), FTYPE_Q8_0);
        let head = 48 + 8 + 24 + 4 + (4 + 1) + (4 + 6) + (4 + 1);
        assert_eq!(out[..44], m[..44]);
        assert_eq!(out[48..head], m[48..head]);
        // The matrix: 2 rows × 2 blocks of 34 bytes, values within half a step.
        let name = "decoder.token_embedding.weight";
        let at = head + 12 + 8 + name.len();
        assert_eq!(i32::from_le_bytes(out[head + 8..head + 12].try_into().unwrap()), GGML_Q8_0);
        for b in 0..4 {
            let blk = &out[at + 34 * b..at + 34 * (b + 1)];
            let d = f16_to_f32(u16::from_le_bytes([blk[0], blk[1]]));
            for (j, &qv) in blk[2..].iter().enumerate() {
                let want = ((b * 32 + j) as f32 - 64.0) / 50.0;
                assert!((qv as i8 as f32 * d - want).abs() <= d / 2.0 + 1e-3, "block {b} value {j}");
            }
        }
        // The norm and the convolution follow unchanged.
        let rest = at + 4 * 34;
        let m_rest = head + 12 + 8 + name.len() + 64 * 2 * 2;
        assert_eq!(out[rest..], m[m_rest..]);
    }

    #[test]
    fn other_files_are_refused() {
        assert!(quantize_q8_0(b"GGUF....", Vec::new()).is_err());
        let mut m = model();
        m.truncate(m.len() - 10);
        assert!(quantize_q8_0(&m, Vec::new()).unwrap_err().to_string().contains("truncated"));
        let mut q8 = Vec::new();
        quantize_q8_0(&model(), &mut q8).unwrap();
        assert!(quantize_q8_0(&q8, Vec::new()).unwrap_err().to_string().contains("only f16"));
    }
}
