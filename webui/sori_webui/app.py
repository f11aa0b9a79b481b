"""The Gradio app: five tabs over one sori server (상담, 음성, 통화, 지식베이스, 모델 비교)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from . import views
from .audio import from_wav, seconds, to_wav
from .client import ChatResult, OpenAiChat, SoriClient, SoriError

CSS = """
.sori-banner { background:#fdecea; color:#8a1c12; border:1px solid #f5c2bd; border-radius:8px; padding:10px 14px; }
.sori-hint { margin-top:4px; font-size:0.92em; color:#5c1a12; }
.sori-ok { background:#eaf6ec; color:#1e5b2b; border:1px solid #bfe3c6; border-radius:8px; padding:8px 14px; font-size:0.92em; }
"""

ENGINE_SORI = "sori-1339 (서버에 설정된 엔진)"
ENGINE_RETRIEVAL = "sori-1339-retrieval (검색 전용)"
ENGINE_OPENAI = "OpenAI 호환 서버"
ENGINES = [ENGINE_SORI, ENGINE_RETRIEVAL, ENGINE_OPENAI]

REPO = Path(__file__).resolve().parents[2]


def _text(content: Any) -> str:
    """A chat message's text (Gradio may hand content back as a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(_text(p.get("text", "")) if isinstance(p, dict) else _text(p) for p in content)
    if isinstance(content, dict):
        return str(content.get("text", ""))
    return str(content or "")


def build(client: SoriClient, repo: Path = REPO) -> gr.Blocks:
    def health_banner() -> str:
        try:
            return views.ok_banner(client.health(), client.base_url)
        except SoriError as err:
            return views.banner(err)

    with gr.Blocks(title="sori 1339 운영 콘솔") as app:
        gr.Markdown(
            "# sori 1339 운영 콘솔\n질병관리청 1339 AI 음성 상담 — 상담 확인, 통화 검토, 지식베이스, 모델 비교"
        )
        top = gr.HTML(elem_id="sori-status")
        app.load(health_banner, outputs=top)
        gr.Timer(5).tick(health_banner, outputs=top)  # its count of live calls follows the 통화 list

        with gr.Tab("상담", id="chat"):
            _chat_tab(client)
        with gr.Tab("음성", id="voice"):
            _voice_tab(client)
        with gr.Tab("통화", id="calls"):
            _calls_tab(client, app)
        with gr.Tab("지식베이스", id="kb"):
            _kb_tab(client, app)
        with gr.Tab("모델 비교", id="compare"):
            _compare_tab(client, repo, app)
    return app


def _chat_tab(client: SoriClient) -> None:
    status = gr.HTML()
    with gr.Row():
        with gr.Column(scale=1):
            chatbot = gr.Chatbot(label="sori와 상담", height=430, elem_id="sori-chat")
            with gr.Row():
                msg = gr.Textbox(
                    placeholder="질문을 입력하고 Enter", label="질문", scale=5, elem_id="sori-question"
                )
                send = gr.Button("보내기", variant="primary", scale=1)
            clear = gr.Button("새 상담", size="sm")
            gr.Examples(views.EXAMPLES, inputs=msg, label="예시 질문 (누르면 입력됩니다)")
        with gr.Column(scale=1):
            gr.Markdown("#### 답변 정보")
            info = gr.Markdown(views.answers_markdown([]), elem_id="sori-answer-info")
    rows = gr.State([])

    def submit(q: str, history: list[dict[str, Any]], rows: list[dict[str, Any]]):
        q = (q or "").strip()
        if not q:
            yield "", history, rows, views.answers_markdown(rows), views.banner("질문을 입력하세요.")
            return
        history = [{"role": m["role"], "content": _text(m["content"])} for m in history or []]
        msgs = [*history, {"role": "user", "content": q}]
        shown = [*msgs, {"role": "assistant", "content": "…"}]
        yield "", shown, rows, views.answers_markdown(rows), ""
        try:
            result = ChatResult()
            for result in client.chat_stream(msgs):
                shown[-1] = {"role": "assistant", "content": result.text or "…"}
                yield "", shown, rows, views.answers_markdown(rows), ""
        except SoriError as err:
            yield q, history, rows, views.answers_markdown(rows), views.banner(err)
            return
        rows = [*rows, views.answer_row(len(rows) + 1, result.sori, result.first_ms, result.total_ms)]
        yield "", shown, rows, views.answers_markdown(rows), ""

    outs = [msg, chatbot, rows, info, status]
    msg.submit(submit, [msg, chatbot, rows], outs)
    send.click(submit, [msg, chatbot, rows], outs)
    clear.click(lambda: ([], [], views.answers_markdown([]), ""), None, [chatbot, rows, info, status])


def _voice_tab(client: SoriClient) -> None:
    status = gr.HTML()
    gr.Markdown(
        "질문을 녹음하거나 WAV 파일을 올리면 sori의 음성 인식 → 답변 → 음성 합성을 거쳐 답을 들려줍니다 (통화와 같은 엔진)."
    )
    with gr.Row():
        with gr.Column():
            audio_in = gr.Audio(
                sources=["upload", "microphone"], type="numpy", label="질문 음성", elem_id="sori-voice-in"
            )
            telephone = gr.Checkbox(
                label="전화 음질 (G.711 μ-law 8 kHz, 질문과 답변 모두 통화 회선을 거친 소리로)", value=False
            )
            run = gr.Button("음성으로 질문하기", variant="primary")
        with gr.Column():
            transcript = gr.Textbox(label="인식된 질문", interactive=False, elem_id="sori-transcript")
            answer = gr.Textbox(label="sori 답변", interactive=False, lines=3, elem_id="sori-voice-answer")
            audio_out = gr.Audio(
                label="sori 답변 음성", type="numpy", interactive=False, elem_id="sori-voice-out"
            )
            timings = gr.Markdown(elem_id="sori-voice-timings")

    def ask(audio: tuple[int, Any] | None, phone: bool):
        if audio is None:
            return views.banner("먼저 질문을 녹음하거나 WAV 파일을 올리세요."), "", "", None, ""
        rate, data = audio
        try:
            wav = to_wav(rate, data)
            heard = client.transcribe(wav, phone)
            text = heard.get("text", "")
            if not text.strip():
                return (
                    views.banner("음성에서 말소리를 알아듣지 못했습니다. 다시 녹음해 주세요."),
                    "",
                    "",
                    None,
                    "",
                )
            reply = client.chat([{"role": "user", "content": text}])
            out_wav, tts_ms = client.speech(reply.text, phone)
        except SoriError as err:
            return views.banner(err), "", "", None, ""
        s = heard.get("sori", {})
        act = views.ACTIONS.get(reply.sori.get("action", ""), "-")
        rows = [
            "| 단계 | 시간 |",
            "|---|---|",
            f"| 음성 인식 ({s.get('engine', '-')}, 음성 {s.get('audio_ms', 0) / 1000:.1f} s) | {heard['ms']:.0f} ms (엔진 {s.get('engine_ms', 0)} ms) |",
            f"| 답변 ({act}, `{reply.sori.get('kb_id') or '-'}`) | {reply.total_ms:.0f} ms |",
            f"| 음성 합성 (답변 {seconds(out_wav):.1f} s) | {tts_ms:.0f} ms |",
            f"| **합계** | **{heard['ms'] + reply.total_ms + tts_ms:.0f} ms** |",
        ]
        if phone:
            rows.append("\n_전화 음질: 질문과 답변 모두 G.711 μ-law 8 kHz 회선을 거쳤습니다._")
        return "", text, reply.text, from_wav(out_wav), "\n".join(rows)

    run.click(ask, [audio_in, telephone], [status, transcript, answer, audio_out, timings])


def _calls_tab(client: SoriClient, app: gr.Blocks) -> None:
    status = gr.HTML()
    with gr.Row():
        outcome = gr.Dropdown(
            choices=[("전체", "")] + [(v, k) for k, v in views.OUTCOMES.items()],
            value="",
            label="결과로 거르기",
            scale=2,
        )
        auto = gr.Checkbox(label="5초마다 새로 고침", value=True, scale=1)
        refresh = gr.Button("새로 고침", scale=1)
    table = gr.Dataframe(
        headers=views.CALL_HEADERS,
        interactive=False,
        label="최근 통화 (최신순)",
        elem_id="sori-calls",
        wrap=True,
    )
    with gr.Row():
        call_id = gr.Textbox(label="통화 ID (표의 행을 누르거나 입력)", scale=4, elem_id="sori-call-id")
        open_btn = gr.Button("열기", scale=1, variant="primary")
    summary = gr.Markdown(elem_id="sori-call-summary")
    turns = gr.Dataframe(
        headers=views.TURN_HEADERS,
        interactive=False,
        label="대화 (턴별)",
        wrap=True,
        column_widths=views.TURN_WIDTHS,
        elem_id="sori-call-turns",
    )
    recording = gr.Audio(
        label="통화 녹음 (왼쪽: 발신자, 오른쪽: sori)",
        visible=False,
        interactive=False,
        elem_id="sori-call-recording",
    )
    timer = gr.Timer(5)

    def load(outcome: str):
        try:
            page = client.calls(limit=50, outcome=outcome or None)
        except SoriError as err:
            return views.banner(err), gr.update()
        return "", views.calls_rows(page)

    def open_call(cid: str):
        cid = (cid or "").strip()
        if not cid:
            return (
                views.banner("통화 ID를 입력하거나 표에서 통화를 고르세요."),
                "",
                [],
                gr.update(visible=False),
            )
        try:
            c = client.call(cid)
            audio = None
            wav = client.recording(cid) if c.get("recording") else None
            if wav:
                audio = from_wav(wav)
        except SoriError as err:
            return views.banner(err), "", [], gr.update(visible=False)
        return (
            "",
            views.call_summary(c),
            views.turns_rows(c),
            gr.update(value=audio, visible=audio is not None),
        )

    def pick(evt: gr.SelectData, data: pd.DataFrame):
        try:
            return str(data.iloc[evt.index[0]][views.CALL_HEADERS[-1]])
        except (IndexError, KeyError, TypeError):
            return gr.update()

    outs = [status, summary, turns, recording]
    app.load(load, outcome, [status, table])
    refresh.click(load, outcome, [status, table])
    outcome.change(load, outcome, [status, table])
    timer.tick(load, outcome, [status, table])
    auto.change(lambda a: gr.Timer(active=a), auto, timer)
    open_btn.click(open_call, call_id, outs)
    call_id.submit(open_call, call_id, outs)
    table.select(pick, table, call_id).then(open_call, call_id, outs)


def _kb_tab(client: SoriClient, app: gr.Blocks) -> None:
    status = gr.HTML()
    with gr.Row():
        with gr.Column(scale=2):
            entries = gr.Dataframe(
                headers=views.ENTRY_HEADERS,
                interactive=False,
                label="항목 (행을 누르면 내용)",
                elem_id="sori-kb",
            )
        with gr.Column(scale=3):
            entry = gr.Markdown("_왼쪽 표에서 항목을 고르세요._", elem_id="sori-kb-entry")
    gr.Markdown("### 질문이 어느 항목으로 가는지 보기")
    with gr.Row():
        q = gr.Textbox(label="질문", placeholder="예: 독감 주사 어디서 맞아요?", scale=5, elem_id="sori-kb-q")
        go = gr.Button("라우팅 보기", variant="primary", scale=1)
    with gr.Row():
        why = gr.Markdown(elem_id="sori-kb-route")
        plot = gr.BarPlot(x="항목", y="점수", title="상위 후보 점수", sort="-y", height=300)
    data = gr.State({})

    def load():
        try:
            kb = client.kb_entries()
        except SoriError as err:
            return views.banner(err), gr.update(), {}
        return "", views.entries_rows(kb), kb

    def show(evt: gr.SelectData, kb: dict[str, Any]):
        try:
            return views.entry_markdown(kb["entries"][evt.index[0]])
        except (IndexError, KeyError, TypeError):
            return gr.update()

    def route(question: str):
        if not (question or "").strip():
            return views.banner("질문을 입력하세요."), "", None
        try:
            r = client.kb_route(question)
        except SoriError as err:
            return views.banner(err), "", None
        frame = pd.DataFrame(views.candidates_table(r))
        top = float(frame["점수"].max()) if len(frame) else 1.0
        plot = gr.BarPlot(
            frame, x="항목", y="점수", title="상위 후보 점수", sort="-y", height=300, y_lim=[0, top * 1.1]
        )
        return "", views.route_markdown(r), plot

    app.load(load, None, [status, entries, data])
    entries.select(show, data, entry)
    go.click(route, q, [status, why, plot])
    q.submit(route, q, [status, why, plot])


def _compare_tab(client: SoriClient, repo: Path, app: gr.Blocks) -> None:
    status = gr.HTML()
    q = gr.Textbox(
        label="질문 (두 엔진에 같은 질문)",
        value="독감 예방접종은 어디서 맞을 수 있나요?",
        elem_id="sori-cmp-q",
    )
    sides = []
    with gr.Row():
        for name, default in (("A", ENGINE_SORI), ("B", ENGINE_RETRIEVAL)):
            with gr.Column():
                engine = gr.Dropdown(ENGINES, value=default, label=f"엔진 {name}")
                url = gr.Textbox(
                    label="OpenAI 호환 서버 주소 (그 엔진을 고를 때)", placeholder="http://127.0.0.1:8081"
                )
                model = gr.Textbox(label="모델 이름", value="default")
                out = gr.Markdown(elem_id=f"sori-cmp-{name.lower()}")
                sides.append((engine, url, model, out))
    go = gr.Button("비교하기", variant="primary")

    def one(question: str, engine: str, url: str, model: str) -> str:
        msgs = [{"role": "user", "content": question}]
        try:
            if engine == ENGINE_OPENAI:
                if not url.strip():
                    return "⚠ OpenAI 호환 서버 주소를 입력하세요."
                r = OpenAiChat(url, model or "default").chat(msgs)
            else:
                r = client.chat(
                    msgs, model="sori-1339-retrieval" if engine == ENGINE_RETRIEVAL else "sori-1339"
                )
        except SoriError as err:
            return f"⚠ {err.message} {err.hint}"
        s = r.sori
        meta = (
            f"분류 {views.ACTIONS.get(s.get('action', ''), '-')}, 항목 `{s.get('kb_id') or '-'}`" if s else ""
        )
        return "\n".join(
            [
                f"**{engine}** — {r.total_ms:.0f} ms",
                "",
                r.text,
                "",
                f"- 근거 판정: {views.grounding_verdict(s)}",
                f"- {meta}",
            ]
        )

    def compare(question: str, *args: str):
        if not (question or "").strip():
            return views.banner("질문을 입력하세요."), "", ""
        a, b = args[:3], args[3:]
        return "", one(question, *a), one(question, *b)

    inputs = [q] + [c for side in sides for c in side[:3]]
    go.click(compare, inputs, [status, sides[0][3], sides[1][3]])

    gr.Markdown("### 학습 파이프라인의 최근 비교표 (`training/results/comparison.json`)")
    rows, problem = views.load_comparison(repo)
    if problem:
        gr.HTML(views.banner(problem))
    headers = [h for _, h in views.COMPARISON_COLUMNS]
    table = views.comparison_rows(rows)
    gr.Dataframe(value=table or None, headers=headers, interactive=False, elem_id="sori-cmp-table")
    metric = gr.Dropdown(headers[1:9], value="chrF", label="그래프 지표")
    frame = pd.DataFrame(table, columns=headers) if table else pd.DataFrame(columns=headers)

    def chart(m: str) -> gr.BarPlot:
        top = float(pd.to_numeric(frame[m], errors="coerce").max()) if len(frame) else 1.0
        return gr.BarPlot(
            frame, x="모델", y=m, title=f"모델별 {m}", height=300, y_lim=[0, (top or 1.0) * 1.1]
        )

    plot = chart("chrF")

    def replot(m: str):
        return chart(m)

    metric.change(replot, metric, plot)
