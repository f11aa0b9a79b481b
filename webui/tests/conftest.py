"""A real `sori serve` for the tests: the debug binary on free loopback ports, a temporary config and
database, the repository's dialplan and knowledge base, a bearer token (the GUI must pass it); and real
calls to it: SIPp's basic scenario, and a caller that says recorded Korean speech (bench/voice_caller.py)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import httpx
import numpy as np
import pytest

from sori_webui.audio import from_wav, to_wav
from sori_webui.client import SoriClient

REPO = Path(__file__).resolve().parents[2]
TOKEN = "webui-test-token-5c1e"


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/sori/target"))


def sori_bin() -> Path:
    return Path(os.environ.get("SORI_BIN", target_dir() / "debug/sori"))


def free_port() -> int:
    """An even port free for UDP and TCP, with the next one free too (SIP + media)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
        if port % 2 or port > 65000:
            continue
        try:
            with socket.socket() as t, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u2:
                t.bind(("127.0.0.1", port))
                u2.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue


@dataclass
class SoriServer:
    url: str
    sip_port: int
    dir: Path
    proc: subprocess.Popen

    @property
    def db(self) -> Path:
        return self.dir / "calls.sqlite"

    def log(self) -> str:
        return (self.dir / "sori.log").read_text(errors="replace")


def start_sori(tmp: Path, token: str | None = TOKEN) -> SoriServer:
    binary = sori_bin()
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: build it first (`make test-bins` or `cargo build`)")
    sip, http = free_port(), free_port()
    rtp = 30000 + (sip % 300) * 100
    cache = target_dir() / "tmp" / "prompt-cache"
    token_line = f'token = "{token}"\n' if token else ""
    (tmp / "sori.toml").write_text(
        f'[sip]\nbind = "127.0.0.1"\nport = {sip}\n\n[rtp]\nport_min = {rtp}\nport_max = {rtp + 98}\n\n'
        f'[dialplan]\npath = "{REPO / "dialplan/1339.toml"}"\n\n[kb]\npath = "{REPO / "kb/1339.toml"}"\n\n'
        f'[tts]\ncache_dir = "{cache}"\n\n[store]\npath = "calls.sqlite"\nrecord = true\nrecordings = "rec"\n\n'
        f'[stt]\ntimeout_ms = 60000\n\n[http]\nbind = "127.0.0.1:{http}"\n{token_line}',
        encoding="utf-8",
    )
    log = (tmp / "sori.log").open("wb")
    proc = subprocess.Popen(
        [str(binary), "serve", "--config", str(tmp / "sori.toml")], stdout=subprocess.DEVNULL, stderr=log
    )
    server = SoriServer(url=f"http://127.0.0.1:{http}", sip_port=sip, dir=tmp, proc=proc)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"sori exited ({proc.returncode}):\n{server.log()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.kill()
    pytest.fail(f"sori did not start:\n{server.log()[-3000:]}")


def stop_sori(server: SoriServer) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.proc.kill()


@pytest.fixture(scope="session")
def sori(tmp_path_factory: pytest.TempPathFactory):
    server = start_sori(tmp_path_factory.mktemp("sori"))
    yield server
    stop_sori(server)


# Real recorded Korean speech (emotiontts_open_db, KAIST / Selvas AI, CC BY-NC-SA 4.0, evaluation only):
# read in place at test time, never copied into the repository.
SPEECH_KO = Path(os.environ.get("SPEECH_KO", REPO.parent / "shared/speech-ko"))
# "미세 먼지를 많이 마셔서 그런거 같아요" (3.3 s): a caller guessing at the cause of their symptoms.
CALLER_CLIP = "wav/lmy02040.wav"


def voice_caller() -> ModuleType:
    """bench/voice_caller.py (stdlib only): a SIP caller that says WAV clips as PCMU RTP over loopback."""
    spec = importlib.util.spec_from_file_location("voice_caller", REPO / "bench/voice_caller.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def telephone_clip(dest: Path) -> Path:
    """The caller's sentence as an 8 kHz mono WAV (the phone's rate), written to `dest`; skips the test
    when the speech-ko corpus is absent."""
    src = SPEECH_KO / CALLER_CLIP
    if not src.is_file():
        pytest.skip(
            f"no real Korean speech for the caller: {src} is missing (set SPEECH_KO to the speech-ko corpus)"
        )
    rate, pcm = from_wav(src.read_bytes())
    # Low-pass below 4 kHz (Hamming-windowed sinc), then keep every (rate / 8000)th sample.
    n = np.arange(-32, 33)
    taps = np.sinc(2 * 3600 / rate * n) * np.hamming(len(n))
    low = np.convolve(pcm.astype(np.float64), taps / taps.sum(), mode="same")
    dest.write_bytes(to_wav(8000, np.clip(np.round(low[:: rate // 8000]), -32768, 32767)))
    return dest


class SpeechCall:
    """A real phone call to sori: bench/voice_caller.py dials over SIP/UDP, and 1.5 s into the greeting says
    the clip as 20 ms PCMU packets (a barge-in), keeping up a phone's stream of silence around it. When
    sori's turn for it has no transcript (it heard nothing), the caller says it again, up to three times.
    The line stays open until `hang_up()`: the test decides when the call ends."""

    def __init__(self, server: SoriServer, clip: Path, finished: Callable[[dict], None] | None = None):
        vc = voice_caller()
        self.finished = finished
        self.frames, _ = vc.load_wav(str(clip))
        self.client = SoriClient(server.url, token=TOKEN)
        self.server = server
        self.phone = vc.Call("127.0.0.1", server.sip_port, "127.0.0.1", user="caller")
        self.phone.invite(timeout=30)
        self.call_id: str = self.phone.call_id
        self.turn: dict | None = None
        self.error: BaseException | None = None
        self.spoken = threading.Event()
        threading.Thread(target=self._talk, daemon=True).start()

    def _talk(self) -> None:
        try:
            time.sleep(1.5)
            before = 0
            for _ in range(3):
                self.phone.say(self.frames)
                if self.phone.wait_said(30) is None:
                    return
                deadline = time.monotonic() + 150
                turns: list = []
                while len(turns) <= before and time.monotonic() < deadline and not self.phone.ended.is_set():
                    time.sleep(0.3)
                    turns = self.client.call(self.call_id)["turns"]
                if len(turns) <= before:
                    return
                if turns[before]["transcript"].strip():
                    self.turn = turns[before]
                    return
                # sori heard nothing in it and asked again: wait for that reply to end, then repeat.
                before = len(turns)
                self.phone.wait_quiet(time.monotonic(), 0.9, 30)
        except BaseException as exc:
            self.error = exc
        finally:
            self.spoken.set()

    def wait_turn(self, timeout: float = 240) -> dict:
        """The call's first turn with a transcript, as sori recorded it (GET /v1/calls/{id})."""
        assert self.spoken.wait(timeout), f"the caller was still talking after {timeout} s"
        if self.error:
            raise self.error
        assert self.turn, (
            f"sori recorded no turn with a transcript for call {self.call_id}; log:\n{self.server.log()[-4000:]}"
        )
        return self.turn

    def hang_up(self, timeout: float = 30) -> dict:
        """Sends BYE and returns sori's finished record of the call (with its turns)."""
        self.phone.hangup()
        deadline = time.monotonic() + timeout
        while True:
            rec = self.client.call(self.call_id)
            if rec.get("ended_ms") or time.monotonic() > deadline:
                self.client.close()
                if self.finished and rec.get("ended_ms"):
                    self.finished(rec)
                return rec
            time.sleep(0.2)


class SpeechCalls:
    """Speech calls for the session; the first finished one is kept for tests that only read it."""

    def __init__(self, server: SoriServer, clip: Path):
        self.server, self.clip = server, clip
        self.finished_record: dict | None = None
        self.dialled: list[SpeechCall] = []

    def _keep(self, record: dict) -> None:
        if self.finished_record is None and record.get("turns"):
            self.finished_record = record

    def dial(self) -> SpeechCall:
        call = SpeechCall(self.server, self.clip, self._keep)
        self.dialled.append(call)
        return call

    def hang_up_all(self) -> None:
        """Ends the calls a failed test left open."""
        for call in self.dialled:
            if not call.phone.ended.is_set():
                call.phone.hangup()

    def finished(self) -> dict:
        """A finished speech call with turns: one placed earlier in the session, or a new one."""
        if self.finished_record is None:
            call = self.dial()
            try:
                call.wait_turn()
            finally:
                call.hang_up()
        assert self.finished_record, "the speech call did not finish"
        return self.finished_record


@pytest.fixture(scope="session")
def speech_calls(sori, tmp_path_factory: pytest.TempPathFactory):
    calls = SpeechCalls(sori, telephone_clip(tmp_path_factory.mktemp("caller") / "question-8k.wav"))
    yield calls
    calls.hang_up_all()


def sipp_call(server: SoriServer) -> None:
    """One real SIP call (SIPp's basic scenario from tests/sipp/) answered and ended by sori."""
    if not shutil.which("sipp"):
        pytest.fail("sipp is required (apt-get install sip-tester; `make deps` installs it)")
    port, media = free_port(), free_port()
    args = [
        "-sf",
        str(REPO / "tests/sipp/basic_call.xml"),
        f"127.0.0.1:{server.sip_port}",
        "-s",
        "1339",
        "-m",
        "1",
    ]
    args += [
        "-i",
        "127.0.0.1",
        "-nostdin",
        "-timeout",
        "45s",
        "-timeout_error",
        "-p",
        str(port),
        "-mp",
        str(media),
    ]
    out = subprocess.run(
        ["sipp", *args],
        cwd=server.dir,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
