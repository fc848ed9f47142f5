"""ChatService in-process on the smoke engine: order, concurrency, failures, controls, figures, restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from ishowtts_studio.services.chat.service import ChatInputError
from tests.helpers import running_studio

FINAL = {"spoken", "dropped", "failed"}
# light settings: no cooldown or dedupe (tests send similar lines), few ODE steps (the CPU is shared)
CHAT = {"chat.cooldown_s": 0.0, "chat.dedupe_window_s": 0.0, "chat.nfe": 2, "chat.prefetch": 3,
        "engine.max_text_chars": 80, "chat.crossfade_ms": 30}


def states(chat: Any, ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = {m["id"]: m for m in chat.history(1000)}
    return {i: rows[i] for i in ids}


def wait_states(chat: Any, ids: list[int], wanted: set[str], timeout: float) -> dict[int, dict[str, Any]]:
    """The messages' rows once every one is in one of the `wanted` states."""
    deadline = time.monotonic() + timeout
    while True:
        got = states(chat, ids)
        if all(m["state"] in wanted for m in got.values()):
            return got
        assert time.monotonic() < deadline, f"not {sorted(wanted)} in time: {[(i, m['state']) for i, m in got.items()]}"
        time.sleep(0.2)


def wait_final(chat: Any, ids: list[int], timeout: float = 300) -> dict[int, dict[str, Any]]:
    return wait_states(chat, ids, FINAL, timeout)


def segments(chat: Any, after: int = 0) -> list[dict[str, Any]]:
    return [e for e in chat.subscribe(after, 0) if e["type"] == "segment"]


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with running_studio(tmp_path_factory.mktemp("chat"), **CHAT) as s:
        yield s


@pytest.fixture()
def chat(studio: Any) -> Iterator[Any]:
    c = studio.chat
    yield c
    c.control("hold_off")
    c.control("resume")
    c.control("clear")


def test_priorities_order_and_timeline(chat: Any) -> None:
    chat.control("hold_on")  # nothing is popped while the moderator holds, so all four meet in the queue
    seq0 = chat.last_seq
    posted = [chat.post("ann", "plain one"), chat.post("bob", "hey streamer", kind="mention"),
              chat.post("cy", "plain two"), chat.post("dee", "for you", kind="gift", amount=100)]
    assert [p["state"] for p in posted] == ["held"] * 4
    assert [q["state"] for q in chat.status()["queue"]] == ["held"] * 4
    chat.control("hold_off")
    ids = [p["id"] for p in posted]
    final = wait_final(chat, ids)
    assert all(m["state"] == "spoken" for m in final.values()), final
    segs = segments(chat, seq0)
    assert [s["id"] for s in segs] == [ids[3], ids[1], ids[0], ids[2]]  # paid, mention, then chat FIFO
    assert segs[0]["text"] == "dee sent 100: for you"
    assert segs[1]["text"] == "bob says: hey streamer" and segs[1]["message"] == "hey streamer"
    for a, b in zip(segs, segs[1:]):  # never overlapping more than the cross-fade (events round to 1 ms)
        assert b["start_at"] >= a["start_at"] + a["duration_s"] - 0.03 - 2e-3
    # each segment's audio is a real WAV of the announced length
    for s in segs:
        info = sf.info(str(chat.audio_path(s["token"])))
        assert info.samplerate == s["sample_rate"]
        assert info.frames / info.samplerate == pytest.approx(s["duration_s"], abs=1e-3)
    for m in final.values():
        assert m["first_audio_s"] is not None and m["first_audio_s"] > 0
        assert m["speech_start_s"] >= m["first_audio_s"]


def test_concurrent_posts_keep_arrival_order(chat: Any) -> None:
    chat.control("pause")  # posting while paused: the queue order, not the synthesis speed, decides
    ids: dict[int, list[int]] = {t: [] for t in range(3)}
    barrier = threading.Barrier(3)

    def poster(t: int) -> None:
        barrier.wait()
        for i in range(3):
            ids[t].append(chat.post(f"user{t}", f"thread {t} line {i}")["id"])

    threads = [threading.Thread(target=poster, args=(t,)) for t in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    all_ids = sorted(i for v in ids.values() for i in v)
    assert len(set(all_ids)) == 9
    seq0 = chat.last_seq
    chat.control("resume")
    final = wait_final(chat, all_ids)
    assert {m["state"] for m in final.values()} == {"spoken"}
    spoken = [s["id"] for s in segments(chat, seq0)]
    assert spoken == all_ids  # one class: spoken exactly in arrival (id) order
    for t in range(3):  # and every thread's own lines in the order it sent them
        assert [i for i in spoken if i in ids[t]] == ids[t]


def test_failing_message_is_marked_and_the_queue_goes_on(chat: Any) -> None:
    chat.control("pause")
    ok1 = chat.post("ann", "before the bad one")["id"]
    long = "this message goes on about many different things for quite a while, longer than the engine takes"
    bad = chat.post("bob", long)["id"]  # passes the chat filters (max_chars 200), too long for the engine (80)
    ok2 = chat.post("cy", "after the bad one")["id"]
    chat.control("resume")
    final = wait_final(chat, [ok1, bad, ok2])
    assert final[bad]["state"] == "failed" and "the limit is 80" in final[bad]["detail"]
    assert final[ok1]["state"] == final[ok2]["state"] == "spoken"
    assert chat.status()["figures"]["failed"] >= 1


def test_filtered_kinds_and_bad_input(chat: Any, studio: Any) -> None:
    out = chat.post("nightbot", "follow the channel")
    assert (out["state"], out["reason"]) == ("dropped", "filtered") and "bot" in out["detail"]
    assert chat.post("ann", "!uptime")["reason"] == "filtered"
    assert states(chat, [out["id"]])[out["id"]]["state"] == "dropped"  # a row, with its reason
    for kwargs, fragment in [
        ({"author": "", "text": "hi"}, "author"),
        ({"author": "ann", "text": "   "}, "empty"),
        ({"author": "ann", "text": "hi", "kind": "donation"}, "Unknown message kind"),
        ({"author": "ann", "text": "hi", "amount": -1}, "amount"),
        ({"author": "ann", "text": "hi", "amount": "lots"}, "amount"),
        ({"author": "ann", "text": "x" * 2001}, "too long"),
        ({"author": "\x00\u202e", "text": "hi"}, "author"),  # nothing left once control characters go
        ({"author": "ann", "text": "\x00\x1b"}, "empty"),
        ({"author": "ann", "text": "hi", "kind": "k" * 10_000}, r"Unknown message kind 'kkk.*\(10000 characters\)"),
    ]:
        with pytest.raises(ChatInputError, match=fragment) as info:
            chat.post(**kwargs)
        assert len(str(info.value)) < 300  # never the whole of a huge input
    # control characters and bidi overrides never reach the queue, the database or the overlay
    out = chat.post("bob\x00\n", "hello\x00\x1b[2J \u202eworld", kind="chat")
    row = states(chat, [out["id"]])[out["id"]]
    assert row["author"] == "bob" and row["text"] == "hello  [2J world"
    from ishowtts_studio.studio import USER_ERRORS

    assert issubclass(ChatInputError, USER_ERRORS)  # the UI shows its message as is


def test_controls_hold_approve_reject_replay_and_errors(chat: Any) -> None:
    chat.control("hold_on")
    a = chat.post("ann", "approve me")["id"]
    r = chat.post("bob", "reject me")["id"]
    assert chat.control("reject", r)["id"] == r
    assert states(chat, [r])[r]["reason"] == "rejected"
    with pytest.raises(ChatInputError, match="not waiting for approval"):
        chat.control("approve", r)
    with pytest.raises(ChatInputError, match="needs the id"):
        chat.control("approve")
    with pytest.raises(ChatInputError, match="Unknown action"):
        chat.control("explode")
    with pytest.raises(ChatInputError, match="whole number"):
        chat.control("replay", "abc")
    with pytest.raises(ChatInputError, match="no message"):
        chat.control("replay", 10**9)
    chat.control("approve", a)
    chat.control("hold_off")
    assert wait_final(chat, [a])[a]["state"] == "spoken"
    again = chat.control("replay", a)
    assert again["replay_of"] == a
    done = wait_final(chat, [again["id"]])[again["id"]]
    assert done["state"] == "spoken" and done["platform"] == "replay"


def test_pause_skip_clear(chat: Any) -> None:
    chat.control("pause")
    seq0 = chat.last_seq
    assert [e for e in chat.subscribe(seq0 - 1, 0) if e["seq"] == seq0][0] == {"seq": seq0, "type": "state",
                                                                             "paused": True}
    ids = [chat.post(f"u{i}", f"a longer line number {i} to skip") ["id"] for i in range(4)]
    time.sleep(1.0)
    assert segments(chat, seq0) == []  # nothing is announced while paused
    chat.control("resume")
    first = chat.subscribe(seq0 + 1, 120)
    seg = next(e for e in first if e["type"] == "segment")
    skipped = chat.control("skip")
    assert skipped["id"] == seg["id"]
    cleared = chat.control("clear")["cleared"]
    final = wait_final(chat, ids)
    assert final[seg["id"]]["state"] == "spoken" and "skipped" in final[seg["id"]]["detail"]
    rejected = [m for m in final.values() if m["reason"] == "rejected"]
    assert len(rejected) == cleared >= 1 and all("cleared" in m["detail"] for m in rejected)
    events = chat.subscribe(seq0, 0)
    assert {"type": "skip", "id": seg["id"]} in [{k: v for k, v in e.items() if k != "seq"} for e in events]


def test_clear_cancels_lines_still_waiting_for_the_engine(chat: Any, studio: Any) -> None:
    """Lines cleared while they wait for the engine are cancelled, not synthesised for nobody: the engine's worker
    is held in a call while three lines are handed to it, the queue is cleared, and once the worker is free it
    runs none of them; each stays dropped as rejected (its cancelled stream does not turn it into a failure)."""
    entered, gate = threading.Event(), threading.Event()

    def hold(engine: Any) -> None:
        entered.set()
        gate.wait(60)

    holder = threading.Thread(target=studio.runtime.call, args=(hold,), daemon=True)
    holder.start()
    try:
        assert entered.wait(30), "the worker never took the call"
        completed = studio.runtime.completed  # the worker is inside hold(): nothing completes meanwhile
        ids = [chat.post(f"w{i}", f"waiting line number {i}")["id"] for i in range(3)]
        wait_states(chat, ids, {"synthesizing"}, 30)  # handed to the runtime
        assert chat.control("clear")["cleared"] == 3
        after = chat.post("w9", "the line after the clear")["id"]  # reaches the engine after the three
    finally:
        gate.set()
        holder.join(30)
    assert wait_final(chat, [after])[after]["state"] == "spoken"
    assert studio.runtime.completed == completed + 1  # the three cleared ones were never synthesised
    final = wait_final(chat, ids)
    assert all(m["state"] == "dropped" and m["reason"] == "rejected" for m in final.values()), final


def test_the_name_is_said_again_after_the_authors_lines_were_cleared(chat: Any) -> None:
    """The name is said once per run of lines by one viewer; a run that was cleared was never heard, so the
    viewer's next line says the name again (it used to follow the cleared lines as if they had been read)."""
    chat.control("pause")  # nothing reaches the timeline: the lines only wait in the pipeline
    first = [chat.post("runner", f"line number {i} of a run")["id"] for i in range(2)]
    spoken = [m["spoken_text"] for m in wait_states(chat, first, {"synthesizing", "ready"}, 60).values()]
    assert spoken == ["runner says: line number 0 of a run", "line number 1 of a run"]
    chat.control("clear")
    again = chat.post("runner", "after the clear")["id"]
    row = wait_states(chat, [again], {"synthesizing", "ready"}, 60)[again]
    assert row["spoken_text"] == "runner says: after the clear"


def test_voices_volume_nfe(chat: Any, studio: Any) -> None:
    names = studio.voices.voice_names()
    assert chat.status()["default_voice"] in names
    chat.set_default_voice(names[-1])
    assert chat.status()["default_voice"] == names[-1]
    with pytest.raises(ChatInputError, match="no voice named"):
        chat.set_default_voice("nobody")
    chat.set_viewer_voice("Ann", names[0])
    assert chat.viewer_voices() == {"Ann": names[0]}
    chat.set_viewer_voice("ann", None)
    assert chat.viewer_voices() == {}
    chat.set_volume(0.5)
    assert chat.status()["volume"] == 0.5
    for bad in (-0.1, 1.5, "loud", float("nan")):
        with pytest.raises(ChatInputError, match="Volume"):
            chat.set_volume(bad)
    chat.set_nfe(4)
    assert chat.status()["nfe"] == 4 and chat.status()["effective_nfe"] == 4
    chat.set_nfe(None)
    assert chat.status()["nfe"] is None and chat.status()["effective_nfe"] == studio.default_nfe()
    for bad in (0.5, 65, "x"):
        with pytest.raises(ChatInputError, match="NFE"):
            chat.set_nfe(bad)
    chat.set_nfe(2)
    # a viewer's own voice is the one used
    chat.set_viewer_voice("zed", names[0])
    m = chat.post("zed", "my own voice")["id"]
    assert wait_final(chat, [m])[m]["voice"] == names[0]


def test_a_renamed_voice_is_followed_and_a_deleted_one_is_flagged(chat: Any, studio: Any) -> None:
    """The chat keeps its default and viewers' voices by name: a rename in the Voices tab used to switch the chat
    silently to another voice. Now the choices follow the rename; a deleted voice is named in the status."""
    from tests.helpers import EN_CLIP, EN_TEXT

    first = studio.voices.voice_names()[0]
    studio.voices.add_voice("Chatty", EN_CLIP, EN_TEXT, "en")
    try:
        chat.set_default_voice("Chatty")
        chat.set_viewer_voice("Ann", "Chatty")
        studio.voices.rename_voice("Chatty", "Chatty Two")
        status = chat.status()
        assert status["default_voice"] == "Chatty Two" and status["voice_warning"] is None
        assert chat.viewer_voices()["Ann"] == "Chatty Two"
        m = chat.post("Ann", "still my voice")["id"]
        assert wait_final(chat, [m])[m]["voice"] == "Chatty Two"
    finally:
        studio.voices.delete_voice("Chatty Two")
    status = chat.status()
    assert status["default_voice"] == first  # the fallback, and the status says so
    assert "'Chatty Two' is not in the library; speaking in" in status["voice_warning"]
    assert "Viewers' voices 'Chatty Two'" in status["voice_warning"]
    chat.set_viewer_voice("Ann", None)
    chat.set_default_voice(first)
    assert chat.status()["voice_warning"] is None


def test_figures_backlog_and_prometheus(chat: Any, studio: Any) -> None:
    chat.control("pause")
    for i in range(40):  # 40 waiting x about 3 s each is more than max_wait_s (60 s)
        chat.post(f"v{i}", f"backlog line {i}")
    fig = chat.status()["figures"]
    assert fig["depth"] >= 40 and fig["per_minute"] >= 40
    assert fig["backlog_warning"] and "max_wait_s" in fig["backlog_warning"]
    text = studio.metrics.prometheus_text().decode()
    assert 'ishowtts_chat_messages_total{kind="chat"}' in text
    assert "ishowtts_chat_queue_depth" in text and "ishowtts_chat_first_audio_seconds_bucket" in text
    chat.control("clear")
    assert chat.status()["figures"]["backlog_warning"] is None


def test_subscribe_times_out_and_tokens_are_checked(chat: Any) -> None:
    t0 = time.monotonic()
    assert chat.subscribe(chat.last_seq, 0.3) == []  # nothing new within 0.3 s: an empty answer
    assert time.monotonic() - t0 >= 0.25
    with pytest.raises(KeyError):
        chat.audio_path("not-a-token")
    with pytest.raises(KeyError):
        chat.audio_path("../../etc/passwd")


def test_post_lines(chat: Any) -> None:
    chat.control("hold_on")
    out = chat.post_lines("ann: hello there\n\njust a line\nsee https://example.com\n")
    rows = states(chat, [o["id"] for o in out])
    assert [rows[o["id"]]["author"] for o in out] == ["ann", "viewer", "viewer"]
    assert out[2]["spoken_text"].endswith("see link")
    with pytest.raises(ChatInputError, match="at least one message"):
        chat.post_lines(" \n ")


def test_audio_made_during_a_long_pause_is_still_there_to_play(tmp_path: Path) -> None:
    """A message's audio was kept for chat.audio_keep_s from the moment it was ready: lines prefetched during a
    pause longer than that were announced after the resume with their WAVs already deleted (players got 404
    and the history said "spoken")."""
    with running_studio(tmp_path / "pause", **CHAT, **{"chat.audio_keep_s": 10.0}) as studio:
        chat = studio.chat
        chat.control("pause")
        ids = [chat.post(f"p{i}", f"pause line {i}")["id"] for i in range(2)]
        deadline = time.monotonic() + 120
        while sum(q["state"] == "ready" for q in chat.status()["queue"]) < 2:
            assert time.monotonic() < deadline, chat.status()["queue"]
            time.sleep(0.2)
        time.sleep(11.0)  # longer than the audio is kept
        chat.control("resume")
        tokens: dict[int, str] = {}
        deadline = time.monotonic() + 60
        while len(tokens) < 2:
            assert time.monotonic() < deadline, tokens
            tokens |= {e["id"]: e["token"] for e in segments(chat) if e["id"] in ids}
            time.sleep(0.1)
        for token in tokens.values():
            assert chat.audio_path(token).is_file()  # announced after the pause, still fetchable
        wait_final(chat, ids)


def test_restart_resumes_the_queue(tmp_path: Path) -> None:
    folder = tmp_path / "restart"
    with running_studio(folder, **CHAT) as s1:
        s1.chat.control("pause")
        ids = [s1.chat.post(f"u{i}", f"restart line {i}")["id"] for i in range(5)]
        # wait until the prefetch took some (synthesizing or ready) so a restart meets every kind of row
        deadline = time.monotonic() + 120
        while not any(q["state"] == "ready" for q in s1.chat.status()["queue"]):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        before = {q["id"]: q["state"] for q in s1.chat.status()["queue"]}
        seq_before = s1.chat.last_seq
    assert set(before) == set(ids) and "queued" in before.values()
    old_wavs = list((folder / "s" / "chat").glob("*.wav"))
    assert old_wavs  # the ready ones had their audio written
    # the second start also asks for the sound-device output, which this machine lacks: said, not fatal
    with running_studio(folder, **CHAT, **{"chat.sounddevice": True, "chat.output_device": "no-such-device"}) as s2:
        st = s2.chat.status()
        assert st["paused"] is True  # paused stays paused across a restart
        [out] = [x for x in st["sources"] if x["name"] == "sounddevice"]
        assert out["state"] == "error"
        assert ("pip install sounddevice" in out["detail"]) or ("no-such-device" in out["detail"])
        assert sorted(q["id"] for q in st["queue"]) == ids
        assert not any(w.exists() for w in old_wavs)  # unreachable after a restart (tokens are per run): removed
        s2.chat.control("resume")
        assert s2.chat.last_seq > seq_before  # a player's old `after` still sees the new events
        final = wait_final(s2.chat, ids)
    assert {m["state"] for m in final.values()} == {"spoken"}
    again = [i for i, st in before.items() if st in ("synthesizing", "ready")]
    assert again and all("after a restart" in final[i]["detail"] for i in again)


def test_busy_runtime_delays_chat_instead_of_failing_it(tmp_path: Path) -> None:
    """The runtime holds at most 4 x max_batch active requests plus queue_size waiting ones (here 4 + 1), so a
    prefetch of eight meets BusyError at once: those wait their turn (first in line), none fails."""
    busy = {**CHAT, "engine.queue_size": 1, "engine.max_batch": 1, "engine.batch_wait_ms": 0.0, "chat.prefetch": 8}
    with running_studio(tmp_path, **busy) as studio:
        chat = studio.chat
        chat.control("hold_on")
        ids = [chat.post(f"u{i}", f"busy line {i}")["id"] for i in range(8)]
        seq0 = chat.last_seq
        chat.control("hold_off")  # all eight reach the queue at once; the loop tries to start them all
        final = wait_final(chat, ids)
        assert studio.runtime.rejected_busy >= 1  # the busy path was taken
        assert {m["state"] for m in final.values()} == {"spoken"}
        assert [s["id"] for s in segments(chat, seq0)] == ids  # and the order held


class FakeSoundDevice:
    """Stands in for the `sounddevice` package (no sound card here): records what would be played, and when."""

    PortAudioError = RuntimeError

    def __init__(self) -> None:
        self.calls: list[tuple[str, float, Any]] = []

    def query_devices(self, device: Any = None, kind: str | None = None) -> Any:
        if device is None:
            return [{"name": "Desk speakers", "max_output_channels": 2}]
        if device != "Desk speakers":
            raise ValueError(f"no device {device!r}")
        return {"name": device}

    def play(self, audio: Any, samplerate: int, device: Any = None) -> None:
        self.calls.append(("play", time.time(), (audio.copy(), samplerate, device)))

    def stop(self) -> None:
        self.calls.append(("stop", time.time(), None))


def test_sounddevice_output_follows_the_timeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    fake = FakeSoundDevice()
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    with running_studio(tmp_path, **CHAT, **{"chat.sounddevice": True, "chat.output_device": "Desk speakers"}) as s:
        chat = s.chat
        [out] = [x for x in chat.status()["sources"] if x["name"] == "sounddevice"]
        assert out["state"] == "playing" and "Desk speakers" in out["detail"]
        chat.set_volume(0.5)
        seq0 = chat.last_seq
        ids = [chat.post("ann", "first for the speakers")["id"], chat.post("bob", "second for the speakers")["id"]]
        wait_final(chat, ids)
        segs = segments(chat, seq0)
        wavs = [sf.read(str(chat.audio_path(g["token"])), dtype="float32")[0] for g in segs]
        time.sleep(0.5)
    plays = [c for c in fake.calls if c[0] == "play"]
    assert len(plays) == 2
    for (_, at, (audio, sr, device)), seg, wav in zip(plays, segs, wavs):
        assert device == "Desk speakers" and sr == seg["sample_rate"]
        assert at >= seg["start_at"] - 0.02  # not before its place on the timeline
        assert audio.shape == wav.shape and np.allclose(audio, wav * 0.5)  # the segment, at the chosen volume
