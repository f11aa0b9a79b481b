"""The GUI in a real browser: Debian's chromium driven by Playwright (no browser download), against
`python -m sori_webui` and a real `sori serve`. Screenshots of each tab go to $SORI_WEBUI_ARTEFACTS
(default webui/out/screenshots)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from sori_webui.client import SoriClient

from .conftest import REPO, TOKEN, free_port, seed_voice_call, sipp_call

ARTEFACTS = Path(os.environ.get("SORI_WEBUI_ARTEFACTS", REPO / "webui/out/screenshots"))
CHROMIUM = os.environ.get("SORI_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
LONG = 120_000  # ms: STT and synthesis on a busy 2-core machine


@pytest.fixture(scope="module")
def webui(sori):
    port = free_port()
    env = {**os.environ, "SORI_HTTP_TOKEN": TOKEN, "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sori_webui", "--server", sori.url, "--port", str(port)],
        cwd=REPO / "webui",
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    first = proc.stdout.readline() if proc.stdout else ""
    assert f"sori 웹 GUI: {url}" in first, first
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("the web GUI did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required (apt-get install chromium fonts-noto-cjk)")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
        )
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser, webui):
    pg = browser.new_page(viewport={"width": 1366, "height": 900}, locale="ko-KR")
    pg.goto(webui)
    expect(pg.locator("#sori-status")).to_contain_text("sori 서버 연결됨", timeout=60_000)
    yield pg
    pg.close()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)


def tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def question_wav(sori, tmp_path: Path) -> Path:
    """Real recorded Korean speech when ../shared/speech-ko is there, else sori's own voice."""
    corpus = REPO.parent / "shared/speech-ko/wav"
    clips = sorted(corpus.glob("*.wav"), key=lambda p: p.stat().st_size) if corpus.is_dir() else []
    if clips:
        return clips[0]
    wav, _ = SoriClient(sori.url, token=TOKEN).speech("독감 예방접종은 어디서 맞을 수 있나요?")
    path = tmp_path / "question.wav"
    path.write_bytes(wav)
    return path


def test_chat_tab_answers_with_its_source(page):
    tab(page, "상담")
    box = page.locator("#sori-question textarea")
    box.fill("홍역은 어떤 증상이 있어요?")
    box.press("Enter")
    info = page.locator("#sori-answer-info")
    expect(info).to_contain_text("measles", timeout=60_000)
    expect(info).to_contain_text("답변")
    expect(info.get_by_role("link").first).to_have_attribute("href", re.compile(r"^https://"))
    expect(page.locator("#sori-chat")).to_contain_text("홍역")
    # A follow-up on the same conversation.
    box.fill("다시 말씀해 주세요")
    box.press("Enter")
    expect(info.locator("tbody tr")).to_have_count(2, timeout=60_000)
    shot(page, "1-chat")


def test_voice_tab_transcribes_answers_and_speaks(page, sori, tmp_path):
    tab(page, "음성")
    page.locator("#sori-voice-in input[type=file]").set_input_files(str(question_wav(sori, tmp_path)))
    page.get_by_label("전화 음질").check()
    page.get_by_role("button", name="음성으로 질문하기").click()
    expect(page.locator("#sori-voice-timings")).to_contain_text("합계", timeout=LONG)
    expect(page.locator("#sori-transcript textarea")).not_to_have_value("")
    expect(page.locator("#sori-voice-answer textarea")).not_to_have_value("")
    expect(
        page.locator(
            "#sori-voice-out audio, #sori-voice-out canvas, #sori-voice-out .waveform-container"
        ).first
    ).to_be_attached()
    shot(page, "2-voice")


def test_calls_tab_shows_a_real_sip_call_and_a_call_with_turns(page, sori):
    sipp_call(sori)
    seed_voice_call(sori.db, "voice-2")
    tab(page, "통화")
    table = page.locator("#sori-calls")
    expect(table).to_contain_text("voice-2", timeout=30_000)  # auto-refresh or first load
    expect(table).to_contain_text("완료")
    page.locator("#sori-call-id textarea, #sori-call-id input").first.fill("voice-2")
    page.get_by_role("button", name="열기").click()
    expect(page.locator("#sori-call-summary")).to_contain_text("voice-2", timeout=30_000)
    expect(page.locator("#sori-call-turns")).to_contain_text("홍역은 어떤 증상이 있나요", timeout=30_000)
    shot(page, "3-calls")
    # The real SIP call was recorded ([store] record = true): its audio plays in the tab.
    sip = next(c for c in SoriClient(sori.url, token=TOKEN).calls()["calls"] if c.get("recording"))
    page.locator("#sori-call-id textarea, #sori-call-id input").first.fill(sip["call_id"])
    page.get_by_role("button", name="열기").click()
    expect(page.locator("#sori-call-summary")).to_contain_text("녹음 있음", timeout=30_000)
    expect(page.locator("#sori-call-recording")).to_be_visible()
    shot(page, "3-calls-recording")


def test_knowledge_base_tab_opens_an_entry_and_explains_a_route(page):
    tab(page, "지식베이스")
    kb = page.locator("#sori-kb")
    expect(kb).to_contain_text("홍역", timeout=30_000)
    kb.get_by_text("홍역", exact=False).first.click()
    expect(page.locator("#sori-kb-entry")).to_contain_text("출처", timeout=30_000)
    q = page.locator("#sori-kb-q textarea, #sori-kb-q input").first
    q.fill("독감 주사 어디서 맞아요?")
    page.get_by_role("button", name="라우팅 보기").click()
    expect(page.locator("#sori-kb-route")).to_contain_text("결과", timeout=30_000)
    expect(page.locator("#sori-kb-route")).to_contain_text("점수")
    shot(page, "4-kb")


def test_compare_tab_answers_side_by_side_and_shows_the_training_table(page):
    tab(page, "모델 비교")
    page.get_by_role("button", name="비교하기").click()
    expect(page.locator("#sori-cmp-a")).to_contain_text("ms", timeout=60_000)
    expect(page.locator("#sori-cmp-b")).to_contain_text("지식베이스 답변 그대로")
    expect(page.locator("#sori-cmp-table")).to_contain_text("gemma-3-270m")
    shot(page, "5-compare")


def test_unreachable_server_shows_a_korean_banner_not_a_trace(browser):
    port, dead = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sori_webui", "--server", f"http://127.0.0.1:{dead}", "--port", str(port)],
        cwd=REPO / "webui",
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.3)
        pg = browser.new_page(viewport={"width": 1366, "height": 900})
        pg.goto(f"http://127.0.0.1:{port}")
        status = pg.locator("#sori-status")
        expect(status).to_contain_text("연결할 수 없습니다", timeout=60_000)
        expect(status).to_contain_text("make run")
        expect(pg.locator("body")).not_to_contain_text("Traceback")
        pg.screenshot(path=str(ARTEFACTS / "0-unreachable.png"))
        pg.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
