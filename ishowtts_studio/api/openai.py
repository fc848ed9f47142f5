"""OpenAI-compatible speech API on the studio's own server (same process, same shared runtime).

    POST /v1/audio/speech   {model, input, voice, response_format, speed, stream_format, [nfe], [seed]}
    GET  /v1/models         the models (engines and the tts-1 / tts-1-hd aliases)
    GET  /v1/audio/voices   the voice library (id = slug, name)
    GET  /v1/audio/models   the same models, in the shape some front-ends (Open WebUI) ask for

Audio leaves as it is synthesised: the response starts when the engine's first chunk is ready (errors up
to that point still get their status code), each later chunk is encoded and sent at once. Errors use
OpenAI's JSON shape {"error": {"message", "type", "param", "code"}}: 400 bad input, 401 bad key, 404
unknown voice, 413 too long, 415 not JSON, 429 busy or locked out (Retry-After), 503 engine not ready. Every
request is marked origin="api" in history, metrics and Prometheus. No gradio here.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import anyio
import anyio.to_thread
import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ishowtts_studio.api.adapter import SpeechAdapter
from ishowtts_studio.api.auth import LOGIN_THROTTLE, ApiAuth, AuthError, LoginThrottle, Throttled
from ishowtts_studio.encoding import FORMATS, StreamEncoder, output_rate
from ishowtts_studio.engines.base import EngineUnavailable
from ishowtts_studio.runtime import BusyError, SynthesisError
from ishowtts_studio.services.errors import USER_ERRORS
from ishowtts_studio.services.synthesis import LiveSynthesis
from ishowtts_studio.validation import brief, redact_paths

log = logging.getLogger(__name__)

ORIGIN = "api"
OWNER = "ishowtts-studio"
MAX_BODY_BYTES = 1 << 20  # a JSON body over 1 MiB is no speech request
STREAM_THREADS = 256  # API work in threads at once; more waits for a slot (the page's threads are not used)


@dataclass(frozen=True)
class ModelChoice:
    engine: str
    nfe: str | None  # "default" (the studio's default NFE), "reference" (nfe.reference_nfe), None (no ODE steps)
    description: str


# tts-1 is OpenAI's fast model, tts-1-hd its high-quality one: here the studio's default NFE and the reference
# NFE of NFE compare (32 unless configured). gpt-4o-mini-tts, the name newer clients send, maps like tts-1-hd.
MODELS: dict[str, ModelChoice] = {
    "tts-1": ModelChoice("f5", "default", "F5-TTS at the studio's default NFE (fast)"),
    "tts-1-hd": ModelChoice("f5", "reference", "F5-TTS at the reference NFE (cleaner, slower)"),
    "gpt-4o-mini-tts": ModelChoice("f5", "reference", "alias of tts-1-hd"),
    "f5": ModelChoice("f5", "default", "F5-TTS at the studio's default NFE"),
    "indextts": ModelChoice("indextts", None, "IndexTTS (optional engine; NFE does not apply)"),
}


class SpeechBody(BaseModel):
    """The request body of POST /v1/audio/speech (OpenAI's fields, plus the studio's nfe and seed)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    input: str
    voice: str
    response_format: Literal["mp3", "opus", "aac", "flac", "wav", "pcm"] = "mp3"
    speed: float | None = Field(default=None)
    stream_format: Literal["audio", "sse"] = "audio"
    instructions: str | None = None  # gpt-4o-mini-tts's style prompt: accepted, not used by these engines
    stream: bool | None = None  # sent by some OpenAI-compatible clients; this API always streams
    nfe: int | None = None
    seed: int | None = None


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body = {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


async def read_json_body(request: Request) -> bytes:
    """The request body, which must be JSON (a form or text/plain body is what another site's page can post
    without a CORS preflight: 415), read piece by piece and refused once past MAX_BODY_BYTES (a chunked body has no
    Content-Length, and request.body() would first hold all of it in memory: 1.5 GB sent took 2.5 GB)."""
    if request.headers.get("content-type", "").partition(";")[0].strip().lower() != "application/json":
        raise ApiError(415, "Send the body as JSON: 'Content-Type: application/json'.", code="unsupported_media_type")
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, f"The request body is over {MAX_BODY_BYTES // 1024} KiB; send shorter input.",
                           code="request_too_large")
        parts.append(part)
    return b"".join(parts)


def _validation_error(exc: ValidationError) -> ApiError:
    err = exc.errors()[0]
    param = ".".join(str(p) for p in err.get("loc", ())) or None
    kind = err.get("type")
    if kind == "missing":
        return ApiError(400, f"Missing required parameter: '{param}'.", param=param, code="missing_required_parameter")
    if kind == "extra_forbidden":
        known = ", ".join(SpeechBody.model_fields)
        return ApiError(400, f"Unrecognized request argument supplied: {param}. Known: {known}.", param=param,
                        code="unknown_parameter")
    if param == "response_format":
        return ApiError(400, f"response_format must be one of {', '.join(FORMATS)}.", param=param,
                        code="invalid_value")
    if param == "stream_format":
        return ApiError(400, "stream_format must be 'audio' (chunked bytes) or 'sse' (server-sent events).",
                        param=param, code="invalid_value")
    return ApiError(400, f"Invalid value for '{param}': {err.get('msg')}.", param=param, code="invalid_value")


def _user_error(exc: BaseException, param: str | None = None) -> ApiError:
    """A Studio refusal as an API error: busy -> 429, engine -> 503, the rest is bad input."""
    message = redact_paths(str(exc))  # the studio's one path redactor
    if isinstance(exc, BusyError):
        return ApiError(429, message, type_="rate_limit_error", code="server_busy")
    if isinstance(exc, EngineUnavailable):
        return ApiError(503, message, type_="server_error", code="engine_unavailable")
    if isinstance(exc, USER_ERRORS):
        lowered = message.lower()
        if param is None:
            param = next((p for p in ("nfe", "speed", "seed") if lowered.startswith(p)), None)
        code = "synthesis_failed" if isinstance(exc, SynthesisError) else "invalid_value"
        status = 500 if code == "synthesis_failed" else 400
        return ApiError(status, message, type_="server_error" if status == 500 else "invalid_request_error",
                        param=param, code=code)
    log.error("unexpected error in the speech API", exc_info=exc)
    return ApiError(500, "The studio hit an internal error; the details are in its log.", type_="server_error",
                    code="internal_error")


class OpenAISpeechAPI:
    """The handlers, over one SpeechAdapter (the Studio) and the API's key policy."""

    def __init__(self, adapter: SpeechAdapter, auth: ApiAuth, throttle: LoginThrottle = LOGIN_THROTTLE) -> None:
        self.adapter, self.auth, self.throttle = adapter, auth, throttle
        self.created = int(time.time())
        self._limiter: anyio.CapacityLimiter | None = None

    async def in_thread(self, fn: Any, *args: Any) -> Any:
        """Run blocking work (checks, waiting for the engine's next chunk) in a worker thread. The API has its own
        capacity, so a crowd of API listeners never takes the threads that the page, /metrics and Gradio's sync
        handlers share (Starlette's default pool: 40)."""
        if self._limiter is None:  # created on the event loop that uses it
            self._limiter = anyio.CapacityLimiter(STREAM_THREADS)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    # ---- checks -----------------------------------------------------------------------------------
    def authorise(self, request: Request) -> None:
        """The key check, through the server's login throttle (wrong keys count; locked out: 429, key unread)."""
        address = request.client.host if request.client else "?"
        try:
            self.auth.check_from(request.headers.get("authorization"), address, self.throttle)
        except Throttled as exc:
            raise ApiError(429, str(exc), type_="rate_limit_error", code="too_many_attempts",
                           headers={"Retry-After": str(exc.seconds)}) from None
        except AuthError as exc:
            raise ApiError(401, str(exc), code="invalid_api_key") from None

    def _nfe_for(self, choice: ModelChoice, nfe: int | None) -> int | None:
        if choice.nfe is None:
            if nfe is not None:
                raise ApiError(400, f"nfe does not apply to {choice.engine}: leave it out.", param="nfe",
                               code="invalid_value")
            return None
        if nfe is not None:
            return nfe
        return self.adapter.default_nfe() if choice.nfe == "default" else self.adapter.reference_nfe()

    def _check_engine(self, engine: str) -> None:
        state = self.adapter.engine_state(engine)
        if state is None:
            raise ApiError(400, f"Unknown engine {engine!r}.", param="model", code="model_not_found")
        if state.status == "loading":
            raise ApiError(503, f"The {engine} engine is still loading ({state.progress:.0%}); try again shortly.",
                           type_="server_error", code="engine_loading", headers={"Retry-After": "5"})
        if state.status == "unavailable":
            raise ApiError(503, f"The {engine} engine is not available on this server: "
                                f"{redact_paths(state.message)}", type_="server_error", code="engine_unavailable")

    def parse(self, raw: bytes) -> SpeechBody:
        try:
            data = json.loads(raw or b"null")
        except (ValueError, RecursionError):  # RecursionError: nested past the parser's depth
            raise ApiError(400, "The request body is not valid JSON; send a JSON object with model, input and "
                                "voice.", code="invalid_json") from None
        if not isinstance(data, dict):
            raise ApiError(400, "The request body must be a JSON object with model, input and voice.",
                           code="invalid_json")
        try:
            return SpeechBody.model_validate(data)
        except ValidationError as exc:
            raise _validation_error(exc) from None

    def start(self, body: SpeechBody) -> tuple[LiveSynthesis, Iterator[np.ndarray]]:
        """Check everything, queue the synthesis and wait for its first chunk, so a failure up to there still
        gets its status code; returns the synthesis and all its chunks (the first one included)."""
        choice = MODELS.get(body.model.strip().lower())
        if choice is None:
            raise ApiError(400, f"Unknown model {brief(body.model)}: use one of {', '.join(MODELS)} "
                                "(GET /v1/models lists them).", param="model", code="model_not_found")
        if not body.input.strip():
            raise ApiError(400, "input is empty: send the text to speak.", param="input", code="invalid_value")
        limit = self.adapter.max_text_chars
        if len(body.input) > limit:
            raise ApiError(413, f"input is {len(body.input)} characters; this studio speaks at most {limit} per "
                                "request (engine.max_text_chars). Split the text.", param="input",
                           code="input_too_long")
        if self.adapter.find_voice(body.voice) is None:
            known = ", ".join(v.slug for v in self.adapter.voices()[:20])
            raise ApiError(404, f"Unknown voice {brief(body.voice)}: use a voice of the studio's library by name or id "
                                f"(GET /v1/audio/voices lists them: {known}).", param="voice",
                           code="voice_not_found")
        nfe = self._nfe_for(choice, body.nfe)
        self._check_engine(choice.engine)
        try:
            live = self.adapter.start(body.input, body.voice, engine=choice.engine, nfe=nfe, seed=body.seed,
                                      speed=body.speed, origin=ORIGIN)
        except Exception as exc:
            err = _user_error(exc)
            if err.status == 429:
                err.headers["Retry-After"] = str(self.adapter.retry_after_s())
            raise err from None
        chunks = iter(live)
        try:
            first = next(chunks, None)
        except Exception as exc:
            raise _user_error(exc) from None
        return live, chunks if first is None else itertools.chain([first], chunks)

    # ---- streams ----------------------------------------------------------------------------------
    @staticmethod
    def _audio(live: LiveSynthesis, chunks: Iterator[np.ndarray], fmt: str) -> Iterator[bytes]:
        enc = StreamEncoder(fmt, live.sample_rate)
        done = False
        try:
            for chunk in chunks:
                data = enc.add(chunk)
                if data:
                    yield data
            yield enc.finish()
            done = True
        finally:
            if not done:  # the client went away or the engine failed mid-take: stop the work, keep no history
                live.cancel()
                enc.close()
        _save(live)

    @staticmethod
    def _sse(live: LiveSynthesis, chunks: Iterator[np.ndarray], fmt: str, input_chars: int) -> Iterator[bytes]:
        enc = StreamEncoder(fmt, live.sample_rate)

        def event(payload: dict[str, Any]) -> bytes:
            return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()

        def delta(data: bytes) -> bytes:
            return event({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode("ascii")})

        try:
            for chunk in chunks:
                data = enc.add(chunk)
                if data:
                    yield delta(data)
            tail = enc.finish()
            if tail:
                yield delta(tail)
        except Exception as exc:
            live.cancel()
            enc.close()
            err = _user_error(exc)
            yield event({"type": "error", "error": {"message": err.message, "type": err.type, "code": err.code}})
            return
        stats = _save(live)
        # usage counts characters (these engines have no tokens); `ishowtts` carries the take's figures
        yield event({"type": "speech.audio.done",
                     "usage": {"input_tokens": input_chars, "output_tokens": 0, "total_tokens": input_chars},
                     "ishowtts": stats})

    async def speech(self, request: Request) -> Any:
        try:
            self.authorise(request)
            body = self.parse(await read_json_body(request))
            live, chunks = await self.in_thread(self.start, body)
        except ApiError as exc:
            return exc.response()
        fmt = body.response_format
        headers = {"Cache-Control": "no-store", "X-Sample-Rate": str(output_rate(fmt, live.sample_rate))}
        if body.stream_format == "sse":
            stream, media_type = self._sse(live, chunks, fmt, len(body.input)), "text/event-stream"
        else:
            stream, media_type = self._audio(live, chunks, fmt), FORMATS[fmt].media_type
        return StreamingResponse(_in_threads(self.in_thread, stream, live, request), media_type=media_type,
                                 headers=headers)

    def models(self, request: Request) -> Any:
        try:
            self.authorise(request)
        except ApiError as exc:
            return exc.response()
        status = {e: self.adapter.engine_state(e) for e in self.adapter.engine_names()}
        data = []
        for name, choice in MODELS.items():
            state = status.get(choice.engine)
            nfe = self._nfe_for(choice, None)
            data.append({"id": name, "object": "model", "created": self.created, "owned_by": OWNER,
                         "engine": choice.engine, "nfe": nfe, "description": choice.description,
                         "status": state.status if state else "unavailable"})
        return {"object": "list", "data": data}

    def audio_models(self, request: Request) -> Any:
        listing = self.models(request)  # an error answer as it is
        return listing if isinstance(listing, JSONResponse) else {
            "models": [{"id": m["id"], "name": m["description"]} for m in listing["data"]]}

    def voices(self, request: Request) -> Any:
        try:
            self.authorise(request)
        except ApiError as exc:
            return exc.response()
        # id, name and what a client may show; never the server's file paths
        return {"voices": [{"id": v.slug, "name": v.name, "language": v.language,
                            "duration_s": round(v.duration_s, 2)} for v in self.adapter.voices()]}


_END = object()


async def _in_threads(in_thread: Any, stream: Iterator[bytes], live: LiveSynthesis,
                      request: Request) -> AsyncIterator[bytes]:
    """Run the blocking stream in the thread pool one piece at a time, and cancel the synthesis as soon as the
    client goes away (uvicorn accepts writes to a closed connection silently, so the disconnect is watched
    on the request's receive channel), instead of running the take to its end for nobody."""
    gone = asyncio.Event()
    sent = 0

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone.set()
        live.cancel()  # the worker drops the rest of the request before its next batch
        log.info("speech request cancelled after %d piece(s): the client went away", sent)

    watcher = asyncio.ensure_future(watch())
    try:
        while True:
            try:
                piece = await in_thread(next, stream, _END)
            except Exception:
                if gone.is_set():
                    break  # the cancellation itself, nothing to report to nobody
                raise
            if piece is _END or gone.is_set():
                break
            yield piece  # type: ignore[misc]
            sent += 1
    finally:
        watcher.cancel()


def _save(live: LiveSynthesis) -> dict[str, Any]:
    """Write the finished take to history (same path as a tab request); its figures for the SSE done event."""
    try:
        outcome = live.finish(timeout=60)
    except Exception:
        log.exception("the speech API could not save a finished take to history")
        return {}
    keep = ("history_id", "audio_s", "latency_s", "ttfa_s", "rtf", "nfe", "seed", "engine", "batch_size", "smoke")
    return {k: outcome.stats.get(k) for k in keep}


def build_router(adapter: SpeechAdapter, auth: ApiAuth, throttle: LoginThrottle = LOGIN_THROTTLE) -> APIRouter:
    """The /v1 routes over `adapter`; mount with `app.include_router(...)`."""
    api = OpenAISpeechAPI(adapter, auth, throttle)
    router = APIRouter(prefix="/v1")
    router.add_api_route("/audio/speech", api.speech, methods=["POST"], include_in_schema=False)
    router.add_api_route("/models", api.models, methods=["GET"], include_in_schema=False)
    router.add_api_route("/audio/models", api.audio_models, methods=["GET"], include_in_schema=False)
    router.add_api_route("/audio/voices", api.voices, methods=["GET"], include_in_schema=False)
    return router
