#!/usr/bin/env python3
"""A SIP caller for the voice-to-voice latency benchmark (stdlib only).

Calls sori over UDP with PCMU, waits for the greeting to finish, then says
each question (8 kHz mono WAVs) as 20 ms RTP packets, keeps sending silence
like a phone does, and times each turn:

    caller stops speaking (send time of the last audible packet)
    -> first audible RTP packet of sori's reply (arrival time)

It waits for the reply to finish (up to --reply-cap seconds; a longer reply
is interrupted by the next question, as impatient callers do).
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


def load_wav(path):
    with wave.open(path, "rb") as w:
        if w.getframerate() != 8000 or w.getnchannels() != 1 or w.getsampwidth() != 2:
            sys.exit(f"{path}: need 8 kHz mono 16-bit")
        raw = w.readframes(w.getnframes())
    pcm = struct.unpack(f"<{len(raw) // 2}h", raw)
    frames = []
    last_loud = 0
    for i in range(0, len(pcm) - FRAME + 1, FRAME):
        chunk = pcm[i : i + FRAME]
        frames.append(bytes(ulaw_encode(s) for s in chunk))
        if sum(abs(s) for s in chunk) / FRAME > LOUD:
            last_loud = len(frames) - 1
    return frames[: last_loud + 1]


class Call:
    def __init__(self, host, port, local_ip):
        self.host, self.port = host, port
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind((local_ip, 0))
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind((local_ip, 0))
        self.local_ip = local_ip
        self.call_id = f"bench-{random.getrandbits(48):x}@{local_ip}"
        self.tag = f"{random.getrandbits(32):x}"
        self.ended = threading.Event()
        self.lock = threading.Lock()
        self.loud = collections.deque()  # arrival times of audible packets (last 60 s)
        self.queue = []  # frames to send before silence
        self.last_loud_sent = None
        self.remote_rtp = None
        self.to_hdr = None
        self.cseq = 1

    def _send_sip(self, text):
        self.sip.sendto(text.encode(), (self.host, self.port))

    def _headers(self, method, cseq, to=None, branch=None):
        lip, lport = self.sip.getsockname()
        branch = branch or f"z9hG4bK{random.getrandbits(48):x}"
        return (
            f"Via: SIP/2.0/UDP {lip}:{lport};branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\n"
            f"From: <sip:bench@{lip}>;tag={self.tag}\r\n"
            f"To: {to or f'<sip:1339@{self.host}>'}\r\n"
            f"Call-ID: {self.call_id}\r\n"
            f"CSeq: {cseq} {method}\r\n"
            f"Contact: <sip:bench@{lip}:{lport}>\r\n"
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
    ap.add_argument("wavs", nargs="+")
    a = ap.parse_args()
    questions = [(p, load_wav(p)) for p in a.wavs]
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
            path, frames = questions[qi % len(questions)]
            qi += 1
            call.say(frames)
            t_end = call.wait_said()
            if t_end is None:
                break
            t_reply = call.first_loud_after(t_end, 15)
            turn = {"call": call.call_id, "question": path, "speech_s": round(len(frames) * 0.02, 2)}
            if t_reply is None:
                turn["v2v_ms"] = None
                print(f"no reply to {path}", file=sys.stderr)
            else:
                turn["v2v_ms"] = round((t_reply - t_end) * 1000, 1)
                done += 1
                in_call += 1
                print(f"turn {done}: {turn['v2v_ms']} ms  ({path})", file=sys.stderr)
                call.wait_quiet(t_reply, 0.9, a.reply_cap)
                time.sleep(0.3)
            print(json.dumps(turn), flush=True)
        call.hangup()
        time.sleep(0.5)


if __name__ == "__main__":
    main()
