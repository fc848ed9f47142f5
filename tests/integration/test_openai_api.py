"""The OpenAI-compatible speech API, called with the official `openai` client (and httpx where the client hides
what is tested) against real smoke-mode studio servers:

- the session server (conftest): 127.0.0.1, no login, no key -> the API is open to this machine;
- a server of this module with a login and a key from $ISHOWTTS_API_KEY, batches of up to 2 with a long batch
  window and a queue of 4, so concurrent requests batch and a burst gets 429.

Audio is decoded with PyAV (every format) and soundfile (wav, and the history file the studio wrote).
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import av
import httpx
import numpy as np
import openai
import pytest
import soundfile as sf
from prometheus_client.parser import text_string_to_metric_families

from ishowtts_studio.store import Store
from tests.helpers import Server, start_server, stop

EN = "Nature (English)"
EN_ID = "nature-english"
KEY = "test-key-" + uuid.uuid4().hex
LOGIN = ("editor", "pw-" + uuid.uuid4().hex[:8])
FORMAT_RATES = {"mp3": 24_000, "opus": 48_000, "aac": 24_000, "flac": 24_000, "wav": 24_000, "pcm": 24_000}


def api_client(base: str, key: str = "unused") -> openai.OpenAI:
    # no retries: the tests look at each status code as the server sent it
    return openai.OpenAI(base_url=base.rstrip("/") + "/v1", api_key=key, max_retries=0, timeout=300)


def unique(text: str) -> str:
    return f"{text} Take {uuid.uuid4().hex[:6]}."


def _as_float(samples: np.ndarray) -> np.ndarray:
    """Decoders give float or integer samples (s16 for wav, s16/s32 for flac): as floats in [-1, 1]."""
    if np.issubdtype(samples.dtype, np.integer):
        return samples.astype(np.float32) / float(np.iinfo(samples.dtype).max + 1)
    return samples.astype(np.float32)


def decode(data: bytes, fmt: str) -> tuple[np.ndarray, int]:
    """Mono float samples and the sample rate a decoder reports (PyAV; pcm is raw 16-bit at 24 kHz)."""
    if fmt == "pcm":
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32767.0, 24_000
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        frames = [_as_float(f.to_ndarray()).reshape(-1) for f in container.decode(stream)]
        rate = stream.codec_context.sample_rate
    return np.concatenate(frames).astype(np.float32), rate


def history_row(client, text: str) -> dict | None:
    """The studio's history entry for `text` (gradio_client /history), or None."""
    for row in client.predict(50, api_name="/history"):
        if row["text"] == text:
            return row
    return None


# ---------------------------------------------------------------------------------- open server (session)


@pytest.mark.parametrize("fmt", list(FORMAT_RATES))
def test_every_format_decodes_to_the_take(fmt, studio_server: Server, client):
    text = unique("Every format decodes to the take that history keeps.")
    speech = api_client(studio_server.url).audio.speech.create(
        model="tts-1", voice=EN, input=text, response_format=fmt, extra_body={"nfe": 4, "seed": 11})
    audio, rate = decode(speech.content, fmt)
    assert rate == FORMAT_RATES[fmt]
    row = history_row(client, text)
    assert row is not None, "the API request is not in the studio's history"
    assert row["origin"] == "api" and row["nfe"] == 4 and row["seed"] == 11 and row["voice_name"] == EN
    # lossy codecs add their encoder delay (mp3 ~50 ms, aac ~70 ms): the length matches within 0.12 s
    assert len(audio) / rate == pytest.approx(row["audio_seconds"], abs=0.12 if fmt in ("mp3", "aac") else 0.005)
    assert float(np.sqrt(np.mean(audio ** 2))) > 1e-3, "the decoded audio is silent"
    if fmt in ("wav", "pcm"):  # lossless 16-bit: the samples of the history file (rounding may differ by 1)
        kept, kept_rate = sf.read(studio_server.folder / "samples" / row["audio_path"], dtype="int16")
        assert kept_rate == rate
        if fmt == "wav":
            got, _ = sf.read(io.BytesIO(speech.content), dtype="int16")
        else:
            got = np.frombuffer(speech.content, dtype="<i2")
        assert got.shape == kept.shape
        assert np.abs(got.astype(np.int32) - kept.astype(np.int32)).max() <= 1


def test_streaming_sends_first_bytes_before_the_take_is_done(studio_server: Server, client):
    text = unique("Streaming starts early. " + " ".join(
        f"Sentence number {i} keeps the engine busy for one more chunk of audio." for i in range(6)))
    arrivals: list[float] = []
    pieces: list[bytes] = []
    in_history_at_first_bytes = None
    with api_client(studio_server.url).audio.speech.with_streaming_response.create(
            model="tts-1-hd", voice=EN_ID, input=text, response_format="mp3", extra_body={"seed": 5}) as resp:
        assert resp.headers["content-type"] == "audio/mpeg"
        for piece in resp.iter_bytes():
            if not pieces:  # the take is still being synthesised: it is not in history yet
                in_history_at_first_bytes = history_row(client, text)
            arrivals.append(time.perf_counter())
            pieces.append(piece)
    assert in_history_at_first_bytes is None, "the first bytes came only after the whole take was finished"
    assert len(pieces) >= 2 and arrivals[-1] > arrivals[0]
    row = history_row(client, text)
    assert row is not None and row["origin"] == "api"
    assert row["nfe"] == 32  # tts-1-hd = the reference NFE
    audio, rate = decode(b"".join(pieces), "mp3")
    assert len(audio) / rate == pytest.approx(row["audio_seconds"], abs=0.12)


def test_sse_stream_carries_the_whole_take(studio_server: Server, client):
    text = unique("Server-sent events carry base64 audio.")
    deltas, done = [], None
    with httpx.stream("POST", studio_server.url + "v1/audio/speech", timeout=300, json={
            "model": "f5", "voice": EN, "input": text, "response_format": "pcm", "stream_format": "sse",
            "nfe": 6, "seed": 3}) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        for line in resp.iter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[len("data: "):])
            if event["type"] == "speech.audio.delta":
                deltas.append(base64.b64decode(event["audio"]))
            elif event["type"] == "speech.audio.done":
                done = event
    assert deltas and done is not None
    samples = np.frombuffer(b"".join(deltas), dtype="<i2")
    assert len(samples) == round(done["ishowtts"]["audio_s"] * 24_000)
    assert done["usage"]["input_tokens"] == len(text)
    assert done["ishowtts"]["nfe"] == 6 and done["ishowtts"]["seed"] == 3
    row = history_row(client, text)
    assert row is not None and row["id"] == done["ishowtts"]["history_id"] and row["origin"] == "api"


def test_models_and_voices_list_what_is_there(studio_server: Server, client):
    api = api_client(studio_server.url)
    models = {m.id: m for m in api.models.list().data}
    assert {"tts-1", "tts-1-hd", "f5", "indextts"} <= set(models)
    health = client.predict(api_name="/health")
    assert models["tts-1"].model_extra["nfe"] == health["default_nfe"]
    assert models["tts-1-hd"].model_extra["nfe"] == 32
    assert models["indextts"].model_extra["status"] == "unavailable"  # no IndexTTS model configured
    voices = httpx.get(studio_server.url + "v1/audio/voices", timeout=30).json()["voices"]
    by_id = {v["id"]: v for v in voices}
    assert by_id[EN_ID]["name"] == EN and by_id[EN_ID]["language"] == "en"
    assert all(set(v) == {"id", "name", "language", "duration_s"} for v in voices)  # no server paths
    assert "/" not in json.dumps(voices)


def _error(exc_info) -> dict:
    body = exc_info.value.body
    assert set(body) >= {"message", "type", "param", "code"}, body
    return body


@pytest.mark.parametrize(("body", "param", "needle"), [
    ({"input": ""}, "input", "input is empty"),
    ({"response_format": "ogg"}, "response_format", "mp3, opus, aac, flac, wav, pcm"),
    ({"stream_format": "chunks"}, "stream_format", "'audio'"),
    ({"nfe": 0}, "nfe", "NFE 0 is out of range"),
    ({"speed": 9}, "speed", "Speed 9 is out of range"),
    ({"model": "tts-9"}, "model", "Unknown model 'tts-9'"),
    ({"nfe": 8, "model": "indextts"}, "nfe", "nfe does not apply"),
    ({"volume": 3}, "volume", "Unrecognized request argument supplied: volume"),
])
def test_bad_input_is_400_with_the_reason(body, param, needle, studio_server: Server):
    args = {"model": "tts-1", "voice": EN, "input": "Hello.", **body}
    extra = {k: args.pop(k) for k in list(args) if k in ("nfe", "volume")}
    with pytest.raises(openai.BadRequestError) as exc_info:
        api_client(studio_server.url).audio.speech.create(**args, extra_body=extra)
    err = _error(exc_info)
    assert exc_info.value.status_code == 400
    assert err["param"] == param and needle in err["message"], err
    assert "Traceback" not in err["message"]


def test_missing_field_and_broken_json_are_400(studio_server: Server):
    url = studio_server.url + "v1/audio/speech"
    r = httpx.post(url, json={"model": "tts-1", "voice": EN}, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["message"] == "Missing required parameter: 'input'."
    r = httpx.post(url, content=b"{not json", headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    # nested past the parser's depth (a RecursionError was a plain 500)
    r = httpx.post(url, content=b"[" * 100_000, headers={"content-type": "application/json"}, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    # an unknown model or voice is quoted, not echoed whole
    r = httpx.post(url, json={"model": "m" * 10_000, "voice": EN, "input": "Hi."}, timeout=30)
    assert r.status_code == 400 and len(r.text) < 600 and "10000 characters" in r.json()["error"]["message"]


def _memory_kb(pid: int, field: str) -> int:
    for line in open(f"/proc/{pid}/status", encoding="ascii"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def test_an_over_long_chunked_body_is_refused_without_being_held(studio_server: Server):
    """A chunked body has no Content-Length: the API read all of it before checking its size (1.5 GB took
    2.5 GB of the server's memory). Now it stops reading past 1 MiB and answers 413."""
    pid = studio_server.process.pid
    try:  # "5" resets the process's peak resident size (VmHWM) to its current one
        with open(f"/proc/{pid}/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
    except OSError as exc:
        pytest.skip(f"cannot reset the server's peak memory here: {exc}")
    before = _memory_kb(pid, "VmRSS")
    sent = 0

    def body():  # 256 MiB, sent chunked (a generator has no length)
        nonlocal sent
        piece = b"a" * (1 << 20)
        for _ in range(256):
            sent += len(piece)
            yield piece

    r = httpx.post(studio_server.url + "v1/audio/speech", content=body(), timeout=120,
                   headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    grown_mb = (_memory_kb(pid, "VmHWM") - before) / 1024
    assert grown_mb < 64, f"the server's peak memory grew by {grown_mb:.0f} MB for a {sent >> 20} MiB body"


def test_unknown_voice_is_404_and_names_the_voices(studio_server: Server):
    with pytest.raises(openai.NotFoundError) as exc_info:
        api_client(studio_server.url).audio.speech.create(model="tts-1", voice="alloy", input="Hello.")
    err = _error(exc_info)
    assert err["param"] == "voice" and "alloy" in err["message"] and EN_ID in err["message"]


def test_too_long_input_is_413(studio_server: Server):
    with pytest.raises(openai.APIStatusError) as exc_info:
        api_client(studio_server.url).audio.speech.create(model="tts-1", voice=EN, input="a" * 2001)
    assert exc_info.value.status_code == 413
    assert "2001 characters" in _error(exc_info)["message"] and "at most 2000" in _error(exc_info)["message"]


def test_engine_not_available_is_503_without_server_paths(studio_server: Server):
    with pytest.raises(openai.InternalServerError) as exc_info:
        api_client(studio_server.url).audio.speech.create(model="indextts", voice=EN, input="Hello.")
    assert exc_info.value.status_code == 503
    err = _error(exc_info)
    assert err["code"] == "engine_unavailable" and "indextts.model_dir" in err["message"]
    assert str(studio_server.folder) not in err["message"]


def test_open_server_needs_no_key(studio_server: Server):
    # 127.0.0.1, no login, no key configured: no Authorization header at all
    r = httpx.post(studio_server.url + "v1/audio/speech", timeout=300,
                   json={"model": "tts-1", "voice": EN, "input": "No key needed here.", "response_format": "wav",
                         "nfe": 2})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    assert httpx.get(studio_server.url + "v1/models", timeout=30).status_code == 200


# ------------------------------------------------------------------------- keyed server with a login


def _models_status(url: str) -> str | None:
    try:
        r = httpx.get(url + "v1/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
        return {m["id"]: m["status"] for m in r.json()["data"]}.get("tts-1") if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError):
        return None


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory):
    """A studio with a login, the API key in $ISHOWTTS_API_KEY, batches of up to 2 collected for 0.4 s, and a
    queue of 4 (the worker holds at most 4 x 2 requests, so a burst of 24 is partly refused with 429)."""
    server = start_server(tmp_path_factory.mktemp("keyed-server"),
                          server_toml=f'auth_user = "{LOGIN[0]}"\nauth_password = "{LOGIN[1]}"', auth=LOGIN,
                          env={"ISHOWTTS_API_KEY": KEY}, max_batch=2, batch_wait_ms=400.0, queue_size=4)
    try:
        yield server
    finally:
        stop(server.process)


def test_key_is_required_and_never_logged(keyed_server: Server):
    url = keyed_server.url
    body = {"model": "tts-1", "voice": EN, "input": "Only with the key.", "response_format": "wav", "nfe": 2}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}):
        for method, path, payload in (("POST", "v1/audio/speech", body), ("GET", "v1/models", None),
                                      ("GET", "v1/audio/voices", None)):
            r = httpx.request(method, url + path, json=payload, headers=headers, timeout=30)
            assert r.status_code == 401, (path, headers, r.text)
            err = r.json()["error"]
            assert err["code"] == "invalid_api_key" and KEY not in err["message"]
    with pytest.raises(openai.AuthenticationError):
        api_client(url, "not-the-key").audio.speech.create(model="tts-1", voice=EN, input="Hello.")
    speech = api_client(url, KEY).audio.speech.create(model="tts-1", voice=EN, input="Hello with the key.",
                                                       response_format="wav", extra_body={"nfe": 2})
    audio, rate = decode(speech.content, "wav")
    assert rate == 24_000 and len(audio) > 0
    assert KEY not in keyed_server.log_text(tail=10_000_000)


def _sse_take(url: str, text: str) -> dict:
    with httpx.stream("POST", url + "v1/audio/speech", headers={"Authorization": f"Bearer {KEY}"}, timeout=300,
                      json={"model": "tts-1", "voice": EN, "input": text, "response_format": "pcm",
                            "stream_format": "sse", "nfe": 4}) as resp:
        assert resp.status_code == 200, resp.read()
        for line in resp.iter_lines():
            if line.startswith("data: ") and '"speech.audio.done"' in line:
                return json.loads(line[len("data: "):])["ishowtts"]
    raise AssertionError("no done event")


def test_concurrent_requests_batch_through_the_runtime(keyed_server: Server):
    texts = [unique(f"Concurrent request {i}.") for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        takes = list(pool.map(lambda t: _sse_take(keyed_server.url, t), texts))
    # four short requests of one NFE, within one 0.4 s batch window: the worker samples them in pairs
    assert max(t["batch_size"] for t in takes) >= 2, takes
    # the metrics writer records each request with its origin and batch size in the studio's database
    deadline = time.monotonic() + 30
    while True:
        with Store(keyed_server.folder / "samples" / "studio.db") as store:
            rows = [s for s in store.list_metric_samples(limit=100, kind="request") if s.origin == "api"]
        if len(rows) >= 4 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(rows) >= 4 and max(s.batch_size or 0 for s in rows) >= 2
    prom = httpx.get(keyed_server.url + "metrics", auth=LOGIN, timeout=30).text
    counts = {s.labels.get("origin"): s.value for fam in text_string_to_metric_families(prom)
              if fam.name == "ishowtts_requests_by_origin" for s in fam.samples}
    assert counts.get("api", 0) >= 4


@pytest.mark.timeout(1200)  # 8 accepted requests of 3 chunks each on a shared CPU
def test_a_burst_over_the_queue_gets_429_with_retry_after(keyed_server: Server):
    text = " ".join(f"Burst sentence {i} is long enough to need its own chunk of audio." for i in range(3))
    results: list[tuple[int, str | None, dict]] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        r = httpx.post(keyed_server.url + "v1/audio/speech", headers={"Authorization": f"Bearer {KEY}"},
                       json={"model": "tts-1", "voice": EN, "input": f"{text} {i}", "response_format": "pcm",
                             "nfe": 8}, timeout=600)
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
        with lock:
            results.append((r.status_code, r.headers.get("retry-after"), body))

    with ThreadPoolExecutor(24) as pool:
        list(pool.map(one, range(24)))
    codes = [c for c, _, _ in results]
    assert set(codes) <= {200, 429}, codes
    busy = [(ra, body) for c, ra, body in results if c == 429]
    assert busy, "24 requests at once, at most 4 x 2 accepted and 4 waiting: some must be refused"
    assert 200 in codes
    for retry_after, body in busy:
        assert retry_after is not None and 1 <= int(retry_after) <= 60
        assert body["error"]["code"] == "server_busy" and "busy" in body["error"]["message"]


def test_a_client_that_goes_away_cancels_its_take(studio_server: Server, client):
    text = unique(" ".join(f"Sentence {i} would keep the engine busy for another chunk." for i in range(8)))
    with httpx.stream("POST", studio_server.url + "v1/audio/speech", timeout=300,
                      json={"model": "tts-1-hd", "voice": EN, "response_format": "pcm", "input": text}) as resp:
        assert resp.status_code == 200
        next(resp.iter_bytes())  # the first chunk arrived; hang up
    # the server notices at once (not when the take would have ended) and cancels the request in the runtime,
    # which drops its chunks that have not started yet
    deadline = time.monotonic() + 30
    while "the client went away" not in studio_server.log_text():
        assert time.monotonic() < deadline, "the server did not notice the client leaving"
        time.sleep(0.5)
    assert history_row(client, text) is None  # a take nobody received is not in history
