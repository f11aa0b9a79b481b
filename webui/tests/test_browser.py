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

from sori_webui import views
from sori_webui.client import SoriClient

from .conftest import REPO, SPEECH_KO, TOKEN, free_port

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
    corpus = SPEECH_KO / "wav"
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


def open_call(page: Page, call_id: str) -> None:
    page.locator("#sori-call-id textarea, #sori-call-id input").first.fill(call_id)
    page.get_by_role("button", name="열기").click()
    expect(page.locator("#sori-call-summary")).to_contain_text(call_id, timeout=30_000)


def test_calls_tab_shows_a_live_speech_call_then_its_turns(page, speech_calls):
    """A real caller says a recorded Korean sentence; the list shows the call 진행 중 and then finished
    by its own 5-second refresh (nothing clicked), and the opened call shows sori's turn for it."""
    tab(page, "통화")
    table = page.locator("#sori-calls")
    expect(table).to_be_visible()
    call = speech_calls.dial()
    row = table.get_by_role("row").filter(has_text=call.call_id)
    expect(row).to_contain_text("진행 중", timeout=30_000)
    expect(page.locator("#sori-status")).to_contain_text("진행 중 통화 1", timeout=30_000)
    turn = call.wait_turn()
    # The live call opens with the turn sori has recorded so far.
    open_call(page, call.call_id)
    expect(page.locator("#sori-call-summary")).to_contain_text("진행 중인 통화")
    turns = page.locator("#sori-call-turns")
    expect(turns).to_contain_text(turn["transcript"], timeout=30_000)
    shot(page, "3-calls-live")

    record = call.hang_up()
    assert record["ended_ms"] and record["turns"], record
    outcome = views.OUTCOMES.get(record["outcome"], record["outcome"])
    expect(row).not_to_contain_text("진행 중", timeout=30_000)
    expect(page.locator("#sori-status")).to_contain_text("진행 중 통화 0", timeout=30_000)
    expect(row).to_contain_text(outcome)
    expect(row).to_contain_text(f"{record['duration_ms'] / 1000:.1f} s")

    open_call(page, call.call_id)
    summary = page.locator("#sori-call-summary")
    expect(summary).to_contain_text(f"결과: {outcome}")
    expect(summary).to_contain_text(f"끼어들기 {record['barge_ins']}회")
    expect(summary).to_contain_text("녹음 있음")
    # Each turn as sori recorded it: what it heard, what it decided (action, entry), its reply and timings.
    rows = turns.get_by_role("row").filter(has=page.get_by_role("gridcell"))
    expect(rows).to_have_count(len(record["turns"]), timeout=30_000)
    at, final = next((i, t) for i, t in enumerate(record["turns"]) if t["idx"] == turn["idx"])
    cells = rows.nth(at).get_by_role("gridcell")
    expect(cells.nth(0)).to_have_text(str(final["idx"]))
    expect(cells.nth(2)).to_have_text(turn["transcript"])
    expect(cells.nth(3)).to_have_text(views.ACTIONS.get(final["action"], final["action"]))
    expect(cells.nth(4)).to_have_text(final["kb_id"] or "-")
    expect(cells.nth(5)).to_have_text(final["reply"])
    for col, key in ((6, "stt_ms"), (7, "llm_ms"), (8, "tts_ms"), (9, "respond_ms")):
        expect(cells.nth(col)).to_have_text(str(final[key]))
    # The call was recorded ([store] record = true): its audio plays in the tab.
    expect(page.locator("#sori-call-recording")).to_be_visible()
    shot(page, "3-calls")


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
