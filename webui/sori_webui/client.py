"""HTTP client for sori's API (the same endpoints any OpenAI client uses, plus sori's own).

Every failure becomes a `SoriError` whose message is Korean and says what to do, so the UI can show
it as a banner instead of a stack trace.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx


class SoriError(Exception):
    """Something the operator must know: `message` (what is wrong) and `hint` (what to run)."""

    def __init__(self, message: str, hint: str = "", status: int | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.status = status


@dataclass
class ChatResult:
    text: str = ""
    sori: dict[str, Any] = field(default_factory=dict)
    first_ms: float = 0.0
    total_ms: float = 0.0


def _json_error(resp: httpx.Response) -> str | None:
    try:
        return str(resp.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return None


def _server_message(resp: httpx.Response) -> str:
    msg = _json_error(resp)
    return msg if msg is not None else resp.text[:300]


class SoriClient:
    """One sori server; `token` is sent as `Authorization: Bearer …` when set."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 120.0):
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    # --- plumbing -------------------------------------------------------------------------------

    def _unreachable(self, exc: Exception) -> SoriError:
        return SoriError(
            f"sori 서버({self.base_url})에 연결할 수 없습니다 ({type(exc).__name__}).",
            "서버를 시작하세요: `make run` (또는 `sori serve --config sori.toml`), "
            "다른 주소라면 `make webui SORI_URL=http://호스트:포트`.",
        )

    def _check(self, resp: httpx.Response, feature: str) -> httpx.Response:
        if resp.status_code < 400:
            return resp
        msg = _server_message(resp)
        if resp.status_code == 401:
            raise SoriError(
                "sori 서버가 인증 토큰을 요구합니다 (토큰이 없거나 틀렸습니다).",
                "서버의 `[http] token` 값을 `SORI_HTTP_TOKEN` 환경 변수로 주고 다시 시작하세요: "
                "`SORI_HTTP_TOKEN=… make webui`.",
                401,
            )
        # A route the server does not have answers 404/405 without sori's JSON error body.
        if resp.status_code in (404, 405) and _json_error(resp) is None:
            raise SoriError(
                f"이 sori 서버에는 '{feature}' 기능이 없습니다.",
                "sori를 최신 코드로 다시 빌드하고 시작하세요: `make run`.",
                resp.status_code,
            )
        if resp.status_code == 503:
            raise SoriError(f"'{feature}' 기능을 지금 쓸 수 없습니다: {msg}", "서버 로그를 확인하세요.", 503)
        raise SoriError(f"'{feature}' 요청이 실패했습니다 ({resp.status_code}): {msg}", "", resp.status_code)

    def _request(self, method: str, path: str, feature: str, **kw: Any) -> httpx.Response:
        try:
            resp = self._http.request(method, path, **kw)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        return self._check(resp, feature)

    # --- endpoints --------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/healthz", "상태 확인").json()

    def models(self) -> list[str]:
        data = self._request("GET", "/v1/models", "모델 목록").json()
        return [m["id"] for m in data.get("data", [])]

    def chat_stream(self, messages: list[dict[str, str]], model: str | None = None) -> Iterator[ChatResult]:
        """Streams one answer: yields the growing result after each chunk; the last one has `sori`."""
        body: dict[str, Any] = {"messages": messages, "stream": True}
        if model:
            body["model"] = model
        out = ChatResult()
        start = time.perf_counter()
        try:
            with self._http.stream("POST", "/v1/chat/completions", json=body) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    self._check(resp, "상담(채팅)")
                for line in resp.iter_lines():
                    if not line.startswith("data: "):
                        continue
                    data = line[len("data: ") :]
                    if data == "[DONE]":
                        break
                    chunk = json.loads(data)
                    delta = chunk.get("choices", [{}])[0].get("delta", {}).get("content")
                    if delta:
                        if not out.text:
                            out.first_ms = (time.perf_counter() - start) * 1000
                        out.text += delta
                    if "sori" in chunk:
                        out.sori = chunk["sori"]
                    out.total_ms = (time.perf_counter() - start) * 1000
                    yield out
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        except json.JSONDecodeError as exc:
            raise SoriError(f"서버가 잘못된 스트림을 보냈습니다: {exc}") from exc

    def chat(self, messages: list[dict[str, str]], model: str | None = None) -> ChatResult:
        results = list(self.chat_stream(messages, model))
        return results[-1] if results else ChatResult()

    def transcribe(self, wav: bytes, telephone: bool = False) -> dict[str, Any]:
        start = time.perf_counter()
        files = {"file": ("audio.wav", wav, "audio/wav")}
        data = {"model": "whisper-1", "telephone": "true" if telephone else "false"}
        out = self._request("POST", "/v1/audio/transcriptions", "음성 인식", files=files, data=data).json()
        out["ms"] = (time.perf_counter() - start) * 1000
        return out

    def speech(self, text: str, telephone: bool = False) -> tuple[bytes, float]:
        start = time.perf_counter()
        body = {"model": "sori-tts", "input": text, "voice": "sori", "telephone": telephone}
        resp = self._request("POST", "/v1/audio/speech", "음성 합성", json=body)
        return resp.content, (time.perf_counter() - start) * 1000

    def calls(self, limit: int = 50, offset: int = 0, outcome: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if outcome:
            params["outcome"] = outcome
        return self._request("GET", "/v1/calls", "통화 기록", params=params).json()

    def call(self, call_id: str) -> dict[str, Any]:
        try:
            return self._request("GET", f"/v1/calls/{quote(call_id, safe='')}", "통화 기록").json()
        except SoriError as err:
            if err.status == 404:
                raise SoriError(f"통화 ID '{call_id}'를 찾을 수 없습니다.", "", 404) from err
            raise

    def recording(self, call_id: str) -> bytes | None:
        """The call's stereo WAV; None when it was not recorded or the file is gone."""
        try:
            return self._request("GET", f"/v1/calls/{quote(call_id, safe='')}/recording", "통화 녹음").content
        except SoriError as err:
            if err.status == 404:
                return None
            raise

    def kb_entries(self) -> dict[str, Any]:
        return self._request("GET", "/v1/kb/entries", "지식베이스").json()

    def kb_route(self, question: str) -> dict[str, Any]:
        return self._request("GET", "/v1/kb/route", "지식베이스 라우팅", params={"q": question}).json()


class OpenAiChat:
    """Any OpenAI-compatible chat server (llama.cpp's, vLLM, …) for side-by-side comparison."""

    def __init__(self, base_url: str, model: str = "default", key: str | None = None, timeout: float = 120.0):
        url = base_url.rstrip("/")
        self.url = url if url.endswith("/v1") else url + "/v1"
        self.model = model
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._http = httpx.Client(headers=headers, timeout=timeout)

    def chat(self, messages: list[dict[str, str]]) -> ChatResult:
        start = time.perf_counter()
        try:
            resp = self._http.post(
                f"{self.url}/chat/completions", json={"model": self.model, "messages": messages}
            )
        except httpx.TransportError as exc:
            raise SoriError(
                f"OpenAI 호환 서버({self.url})에 연결할 수 없습니다 ({type(exc).__name__}).",
                "서버 주소를 확인하세요 (예: llama.cpp의 `llama-server --port 8081`).",
            ) from exc
        if resp.status_code >= 400:
            raise SoriError(f"OpenAI 호환 서버 오류 ({resp.status_code}): {_server_message(resp)}")
        try:
            v = resp.json()
            text = v["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise SoriError(f"OpenAI 호환 서버의 응답을 읽을 수 없습니다: {resp.text[:200]}") from exc
        ms = (time.perf_counter() - start) * 1000
        return ChatResult(text=text, sori=v.get("sori", {}), first_ms=ms, total_ms=ms)
