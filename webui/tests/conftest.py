"""A real `sori serve` for the tests: the debug binary on free loopback ports, a temporary config and
database, the repository's dialplan and knowledge base, a bearer token (the GUI must pass it)."""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

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


def seed_voice_call(db: Path, call_id: str = "voice-1") -> None:
    """A finished call with one spoken turn, as a speech call leaves it, written into sori's own
    database while it runs (real SQLite in WAL mode; sori's writer shares the file)."""
    now = int(time.time() * 1000)
    con = sqlite3.connect(db, timeout=10)
    with con:
        con.execute(
            "INSERT OR REPLACE INTO calls (call_id, from_uri, to_uri, remote_addr, transport, started_ms, answered_ms,"
            " ended_ms, outcome, barge_ins) VALUES (?, 'sip:caller@127.0.0.1', 'sip:1339@127.0.0.1', '127.0.0.1:5062',"
            " 'udp', ?, ?, ?, 'completed', 1)",
            (call_id, now - 60000, now - 59000, now - 30000),
        )
        con.execute(
            "INSERT OR REPLACE INTO turns (call_id, idx, speech_start_ms, speech_end_ms, transcript, stt_ms, action,"
            " kb_id, reply, answer_source, llm_ms, tts_ms, respond_ms, barged_in) VALUES (?, 0, 1200, 3400,"
            " '홍역은 어떤 증상이 있나요', 420, 'answer', 'measles', '홍역은 발열과 발진이 나타납니다.', 'retrieval',"
            " 0, 0, 510, 1)",
            (call_id,),
        )
    con.close()


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
