#!/usr/bin/env python3
"""A SIP caller for the voice-to-voice latency benchmark (stdlib only).

Calls sori over UDP with PCMU, waits for the greeting to finish, then says
each clip (8 kHz mono WAVs, leading and trailing silence cut) as 20 ms RTP
packets, keeps sending silence like a phone does, and times each turn:

    caller stops speaking (send time of the last audible packet)
    -> first audible RTP packet of sori's reply (arrival time)

With --pause-share, that share of the clips gets a silence of --pause-ms
(a random length in the range) inserted at the quietest point of the
middle of the clip: a caller pausing mid-sentence. A reply that starts
while the clip still has speech to come is *premature*; such turns are
counted and left out of the latency figures.

It waits for the reply to finish (up to --reply-cap seconds; a longer reply
is interrupted by the next clip, as impatient callers do: sori's barge-in
stops it, and the caller ignores that reply's tail).
A call that ends (BYE, or sori transferring) is replaced by a new one until
`--turns` turns are measured. REFER is declined (603) so sori's fallback
applies. Writes one JSON line per turn to stdout; progress goes to stderr.
"""

import argparse
import bisect
import collections
import json
import random
import socket
import struct
import sys
import threading
import time
import wave

FRAME = 160  # samples per 20 ms at 8 kHz
LOUD = 400  # mean |sample| above this (about -38 dBFS) is audible


def ulaw_encode(s):
    bias, clip = 0x84, 32635
    sign = 0x80 if s < 0 else 0
    s = min(abs(s), clip) + bias
    exp = 7
    mask = 0x4000
    while exp > 0 and not (s & mask):
        exp -= 1
        mask >>= 1
    mant = (s >> (exp + 3)) & 0x0F
    return ~(sign | (exp << 4) | mant) & 0xFF


def ulaw_decode(b):
    b = ~b & 0xFF
    sign, exp, mant = b & 0x80, (b >> 4) & 7, b & 0x0F
    s = (((mant << 3) + 0x84) << exp) - 0x84
    return -s if sign else s


DECODE = [ulaw_decode(i) for i in range(256)]
SILENCE = bytes([ulaw_encode(0)]) * FRAME


def load_wav(path, pause_ms=0):
    """μ-law frames of the clip's audible part; with `pause_ms`, that much
    silence inserted at the quietest 60 ms of its middle (30–70 %).
    Returns (frames, pause_at_s or None)."""
    with wave.open(path, "rb") as w:
        if w.getframerate() != 8000 or w.getnchannels() != 1 or w.getsampwidth() != 2:
            sys.exit(f"{path}: need 8 kHz mono 16-bit")
        raw = w.readframes(w.getnframes())
    pcm = struct.unpack(f"<{len(raw) // 2}h", raw)
    chunks = [pcm[i : i + FRAME] for i in range(0, len(pcm) - FRAME + 1, FRAME)]
    level = [sum(abs(s) for s in c) / FRAME for c in chunks]
    loud = [i for i, v in enumerate(level) if v > LOUD]
    if not loud:
        return [], None
    # 100 ms before the first audible frame .. the last audible frame.
    first, last = max(0, loud[0] - 5), loud[-1]
    chunks, level = chunks[first : last + 1], level[first : last + 1]
    pause_at = None
    if pause_ms > 0 and len(chunks) > 20:
        lo, hi = int(len(chunks) * 0.3), int(len(chunks) * 0.7)
        i = min(range(lo, hi - 2), key=lambda k: sum(level[k : k + 3]), default=None)
        if i is not None:
            cut = i + 1
            chunks = chunks[:cut] + [(0,) * FRAME] * round(pause_ms / 20) + chunks[cut:]
            pause_at = round(cut * 0.02, 2)
    return [bytes(ulaw_encode(s) for s in c) for c in chunks], pause_at


def reply_timing(loud, t_start, t_end):
    """From the arrival times of audible packets: (premature, overlap).

    A reply still playing when the clip starts (the previous one, cut by
    barge-in) is the run of packets with gaps under 0.5 s from the start;
    any audible packet after that run and before `t_end` is a reply to part
    of the clip. `overlap`: that tail did not stop within 1.5 s (barge-in
    failed) and the turn cannot be judged."""
    tail_end = t_start
    if any(t_start - 0.1 <= t <= t_start + 0.05 for t in loud):
        for t in loud:
            if t < t_start - 0.1:
                continue
            if t - tail_end >= 0.5:
                break
            tail_end = max(tail_end, t)
    overlap = tail_end > t_start + 1.5
    premature = any(max(tail_end, t_start + 0.6) < t < t_end for t in loud)
    return premature and not overlap, overlap


class Call:
    def __init__(self, host, port, local_ip, user="bench"):
        self.host, self.port, self.user = host, port, user
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((local_ip, 0))
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind((local_ip, 0))
        self.local_ip = local_ip
        self.call_id = f"{user}-{random.getrandbits(48):x}@{local_ip}"
        self.tag = f"{random.getrandbits(32):x}"
        self.ended = threading.Event()
        self.lock = threading.Lock()
        self.loud = collections.deque()  # arrival times of audible packets (last 60 s)
        self.queue = []  # frames to send before silence
        self.last_loud_sent = None
        self.remote_rtp = None
        self.to_hdr = None
        self.cseq = 1
        self.answered_at = None

    def _send_sip(self, text):
        self.sip.sendto(text.encode(), (self.host, self.port))

    def _headers(self, method, cseq, to=None, branch=None):
        lip, lport = self.sip.getsockname()
        branch = branch or f"z9hG4bK{random.getrandbits(48):x}"
        return (
            f"Via: SIP/2.0/UDP {lip}:{lport};branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:{self.user}@{lip}>;tag={self.tag}\r\n"
            f"To: {to or f'<sip:1339@{self.host}>'}\r\n"
            f"Call-ID: {self.call_id}\r\n"
            f"CSeq: {cseq} {method}\r\n"
            f"Contact: <sip:{self.user}@{lip}:{lport}>\r\n"
        )

    def invite(self, timeout=10.0):
        rport = self.rtp.getsockname()[1]
        sdp = (
            f"v=0\r\no=bench 1 1 IN IP4 {self.local_ip}\r\ns=bench\r\nc=IN IP4 {self.local_ip}\r\nt=0 0\r\n"
            f"m=audio {rport} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
            f"a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
        )
        msg = (
            f"INVITE sip:1339@{self.host}:{self.port} SIP/2.0\r\n"
            + self._headers("INVITE", 1)
            + f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
        )
        self._send_sip(msg)
        self.sip.settimeout(timeout)
        while True:
            data, _ = self.sip.recvfrom(65535)
            text = data.decode(errors="replace")
            status = int(text.split(" ", 2)[1]) if text.startswith("SIP/2.0") else 0
            if 100 <= status < 200:
                continue
            if status != 200:
                raise RuntimeError(f"INVITE answered {text.splitlines()[0]}")
            head, _, body = text.partition("\r\n\r\n")
            for line in head.split("\r\n"):
                if line.lower().startswith(("to:", "t:")):
                    self.to_hdr = line.split(":", 1)[1].strip()
            ip, port = None, None
            for line in body.split("\r\n"):
                if line.startswith("c=IN IP4 "):
                    ip = line.split()[-1]
                if line.startswith("m=audio "):
                    port = int(line.split()[1])
            self.remote_rtp = (ip, port)
            # sori's listener clock starts when it answers: stream time ≈ now - answered_at.
            self.answered_at = time.monotonic()
            ack = f"ACK sip:1339@{self.host}:{self.port} SIP/2.0\r\n" + self._headers("ACK", 1, self.to_hdr)
            self._send_sip(ack + "Content-Length: 0\r\n\r\n")
            break
        self.sip.settimeout(0.2)
        for target in (self._sip_loop, self._rtp_rx, self._rtp_tx):
            threading.Thread(target=target, daemon=True).start()

    def _sip_loop(self):
        while not self.ended.is_set():
            try:
                data, addr = self.sip.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            text = data.decode(errors="replace")
            if text.startswith("SIP/2.0"):
                continue
            method = text.split(" ", 1)[0]
            head = text.partition("\r\n\r\n")[0].split("\r\n")
            keep = [h for h in head[1:] if h.lower().split(":", 1)[0] in ("via", "v", "from", "f", "to", "t", "call-id", "i", "cseq")]
            code = "603 Decline" if method == "REFER" else "200 OK"
            headers = "\r\n".join(keep)
            self.sip.sendto(f"SIP/2.0 {code}\r\n{headers}\r\nContent-Length: 0\r\n\r\n".encode(), addr)
            if method == "BYE":
                self.ended.set()

    def _rtp_rx(self):
        self.rtp.settimeout(0.2)
        while not self.ended.is_set():
            try:
                data, _ = self.rtp.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.monotonic()
            if len(data) < 12 or data[1] & 0x7F != 0:
                continue
            payload = data[12:]
            level = sum(abs(DECODE[b]) for b in payload) / max(1, len(payload))
            if level > LOUD:
                with self.lock:
                    self.loud.append(now)
                    while self.loud and self.loud[0] < now - 60:
                        self.loud.popleft()

    def _rtp_tx(self):
        seq, ts, ssrc = random.getrandbits(16), random.getrandbits(32), random.getrandbits(32)
        nxt = time.monotonic()
        while not self.ended.is_set():
            with self.lock:
                frame = self.queue.pop(0) if self.queue else None
                last = frame is not None and not self.queue
            payload = frame or SILENCE
            pkt = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload
            try:
                self.rtp.sendto(pkt, self.remote_rtp)
            except OSError:
                return
            if last:
                with self.lock:
                    self.last_loud_sent = time.monotonic()
            seq += 1
            ts += FRAME
            nxt += 0.02
            time.sleep(max(0.0, nxt - time.monotonic()))

    def say(self, frames):
        with self.lock:
            self.last_loud_sent = None
            self.queue = list(frames)
        return time.monotonic()

    def wait_said(self, timeout=30):
        t = time.monotonic() + timeout
        while time.monotonic() < t and not self.ended.is_set():
            with self.lock:
                if self.last_loud_sent is not None:
                    return self.last_loud_sent
            time.sleep(0.005)
        return None

    def first_loud_after(self, t0, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end and not self.ended.is_set():
            with self.lock:
                times = list(self.loud)
            i = bisect.bisect_right(times, t0)
            if i < len(times):
                return times[i]
            time.sleep(0.005)
        return None

    def wait_quiet(self, since, quiet_s, timeout):
        """Waits until nothing audible arrived for `quiet_s` (after `since`)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end and not self.ended.is_set():
            now = time.monotonic()
            with self.lock:
                last = max(self.loud[-1] if self.loud else since, since)
            if now - last >= quiet_s:
                return True
            time.sleep(0.05)
        return False

    def hangup(self):
        if not self.ended.is_set() and self.to_hdr:
            self.cseq += 1
            bye = f"BYE sip:1339@{self.host}:{self.port} SIP/2.0\r\n" + self._headers("BYE", self.cseq, self.to_hdr)
            self._send_sip(bye + "Content-Length: 0\r\n\r\n")
            time.sleep(0.2)
        self.ended.set()
        self.sip.close()
        self.rtp.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5360)
    ap.add_argument("--turns", type=int, default=24)
    ap.add_argument("--per-call", type=int, default=30, help="turns per call before hanging up")
    ap.add_argument("--reply-cap", type=float, default=25.0, help="seconds of a reply to wait out before the next question (longer replies are interrupted: barge-in)")
    ap.add_argument("--reply-wait", type=float, default=30.0, help="seconds to wait for a reply to start")
    ap.add_argument("--pause-share", type=float, default=0.0, help="share of clips with a silence inserted mid-sentence")
    ap.add_argument("--pause-ms", default="400-700", help="inserted silence, ms (random in the range)")
    ap.add_argument("--seed", type=int, default=1339)
    ap.add_argument("wavs", nargs="+")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    lo, _, hi = a.pause_ms.partition("-")
    questions = []
    for p in a.wavs:
        pause = rng.randint(int(lo), int(hi or lo)) if rng.random() < a.pause_share else 0
        frames, pause_at = load_wav(p, pause)
        if frames:
            questions.append((p, frames, pause if pause_at is not None else 0, pause_at))
    done, qi = 0, 0
    while done < a.turns:
        call = Call(a.host, a.port, "127.0.0.1")
        call.invite()
        start = time.monotonic()
        # The greeting: first audio, then quiet.
        call.first_loud_after(start, 10)
        call.wait_quiet(start, 0.9, 40)
        in_call = 0
        while done < a.turns and in_call < a.per_call and not call.ended.is_set():
            path, frames, pause_ms, pause_at = questions[qi % len(questions)]
            qi += 1
            t_start = call.say(frames)
            t_end = call.wait_said()
            if t_end is None:
                break
            t_reply = call.first_loud_after(t_end, a.reply_wait)
            with call.lock:
                loud = list(call.loud)
            premature, overlap = reply_timing(loud, t_start, t_end)
            turn = {
                "call": call.call_id,
                "question": path,
                "speech_s": round(len(frames) * 0.02, 2),
                "pause_ms": pause_ms,
                "pause_at_s": pause_at,
                "premature": premature,
                "overlap": overlap,
                # The clip's first and last audible packet sent, in sori's stream time of the call.
                "t0_ms": round((t_start - call.answered_at) * 1000),
                "t1_ms": round((t_end - call.answered_at) * 1000),
            }
            turn["v2v_ms"] = None if t_reply is None else round((t_reply - t_end) * 1000, 1)
            if t_reply is None and not premature:
                print(f"no reply to {path}", file=sys.stderr)
            else:
                done += 1
                in_call += 1
                flag = " PREMATURE" if premature else " overlap" if overlap else ""
                print(f"turn {done}: {turn['v2v_ms']} ms  ({path}, pause {pause_ms} ms){flag}", file=sys.stderr)
                call.wait_quiet(t_reply or t_end, 0.9, a.reply_cap)
                time.sleep(0.3)
            print(json.dumps(turn), flush=True)
        call.hangup()
        time.sleep(0.5)


if __name__ == "__main__":
    main()
