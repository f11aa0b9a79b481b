"""WAV bytes <-> (rate, samples) for Gradio's audio components (numpy + the standard `wave` module)."""

from __future__ import annotations

import io
import wave

import numpy as np


def to_wav(rate: int, samples: np.ndarray) -> bytes:
    """Mono 16-bit WAV of Gradio's (rate, array) audio: channels averaged, floats scaled."""
    x = np.asarray(samples)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if np.issubdtype(x.dtype, np.floating):
        x = np.clip(x, -1.0, 1.0) * 32767.0
    elif x.dtype == np.int32:
        x = x / 65536.0
    pcm = np.asarray(np.round(x), dtype=np.int16)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(rate))
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def from_wav(data: bytes) -> tuple[int, np.ndarray]:
    """(rate, int16 samples; shape (n, channels) when stereo) of a 16-bit PCM WAV."""
    with wave.open(io.BytesIO(data), "rb") as w:
        rate, ch, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        frames = w.readframes(w.getnframes())
    if width != 2:
        raise ValueError(f"{width * 8}-bit WAV (16-bit expected)")
    pcm = np.frombuffer(frames, dtype="<i2")
    return rate, pcm.reshape(-1, ch) if ch > 1 else pcm


def seconds(data: bytes) -> float:
    rate, pcm = from_wav(data)
    return len(pcm) / rate
