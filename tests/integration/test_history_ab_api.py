"""Issue 13's last expectations through the real smoke server and `gradio_client`: favourites and their filter,
WAV / MP3 / ZIP downloads with descriptive names, regenerating one sentence of a take, skipping an A/B trial,
and a custom preview text per voice. Each endpoint is new, so each test failed before the change."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from tests.helpers import EN_CLIP, EN_TEXT

EN = "Nature (English)"
# over engine.single_chunk_chars (135 bytes), so the take is two chunks ("sentences"); a shorter text is one
TWO_SENTENCES = ("The first sentence is here and it runs on for quite a while. "
                 "A second one follows it closely, and then a third sentence closes the take for good.")


def _take(client, text: str, seed: int = 3) -> int:
    _, stats = client.predict(text, EN, 4, seed, api_name="/synthesize")
    return int(stats["history_id"])


def _error(client, *args, api_name: str) -> str:
    with pytest.raises(Exception) as info:  # gradio_client raises AppError carrying the server's message
        client.predict(*args, api_name=api_name)
    return str(info.value)


def test_favourite_star_and_filter(client):
    starred, plain = _take(client, "Starred take for the filter."), _take(client, "Plain take, never starred.")
    row = client.predict(starred, True, api_name="/history_favourite")
    assert row["id"] == starred and row["favourite"] is True and "audio_file" not in row
    favourites = client.predict(50, api_name="/history_favourites")
    ids = [r["id"] for r in favourites]
    assert starred in ids and plain not in ids and all(r["favourite"] for r in favourites)
    every = {r["id"]: r["favourite"] for r in client.predict(50, api_name="/history")}
    assert every[plain] is False and every[starred] is True
    # unstar: the filter no longer shows it
    assert client.predict(starred, False, api_name="/history_favourite")["favourite"] is False
    assert starred not in [r["id"] for r in client.predict(50, api_name="/history_favourites")]
    assert "No history entry 987654" in _error(client, 987654, True, api_name="/history_favourite")
    assert "whole number" in _error(client, 2.5, True, api_name="/history_favourite")


def test_download_one_take_as_mp3_and_several_as_a_zip(client):
    first, second = _take(client, "Download me as an MP3."), _take(client, "And me inside the archive.")
    wav_seconds = next(r["audio_seconds"] for r in client.predict(50, api_name="/history") if r["id"] == first)

    mp3 = Path(client.predict(str(first), "mp3", api_name="/history_download"))
    assert mp3.suffix == ".mp3" and mp3.name.startswith(f"take-{first}-nature-english-download-me-as-an-mp3")
    with av.open(str(mp3)) as container:  # a real MP3 of the take's length, decoded by FFmpeg
        stream = container.streams.audio[0]
        assert stream.codec_context.name.startswith("mp3") and container.format.name == "mp3"
        samples = sum(frame.samples for frame in container.decode(stream))
        assert abs(samples / stream.rate - wav_seconds) < 0.15

    archive = Path(client.predict(f"{first}, {second}", "wav", api_name="/history_download"))
    assert archive.suffix == ".zip"
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
        assert len(names) == 2
        assert names[0].startswith(f"take-{first}-nature-english-download-me") and names[0].endswith(".wav")
        assert names[1].startswith(f"take-{second}-nature-english-and-me-inside")
        audio, sr = sf.read(io.BytesIO(zf.read(names[0])))
        assert sr == 24000 and abs(len(audio) / sr - wav_seconds) < 0.01

    assert "choose WAV or MP3" in _error(client, str(first), "ogg", api_name="/history_download")
    assert "No history entry 987654" in _error(client, f"{first}, 987654", "wav", api_name="/history_download")
    assert "No takes to download" in _error(client, "", "wav", api_name="/history_download")


def test_regenerate_one_sentence_of_a_take(client):
    old_id = _take(client, TWO_SENTENCES, seed=5)
    old_rows = {r["id"]: r for r in client.predict(100, api_name="/history")}
    audio_path, row = client.predict(str(old_id), "2", api_name="/regenerate_sentence")
    note = row["regenerated"]
    assert note["from_take"] == old_id and note["sentence"] == 2 and note["sentences"] == 2
    assert note["seed"] != 5 + 1, "the sentence gets a new seed"
    assert row["id"] != old_id and row["text"] == old_rows[old_id]["text"] and row["nfe"] == 4
    assert row["voice_name"] == EN and row["seed"] == 5  # the take's own seed: the other sentences keep theirs
    # the old take is kept, and the new one starts with the same audio: only sentence 2 changed
    old_audio, sr = sf.read(client.predict(str(old_id), "wav", api_name="/history_download"), dtype="float32")
    new_audio, _ = sf.read(audio_path, dtype="float32")
    head = int(3.0 * sr)  # sentence 1 of this text lasts well over 3 s
    np.testing.assert_allclose(new_audio[:head], old_audio[:head], atol=1e-4)
    tail = min(len(old_audio), len(new_audio)) - int(0.5 * sr)
    assert not np.allclose(new_audio[tail - sr:tail], old_audio[tail - sr:tail], atol=1e-3)
    assert "Pick a sentence from 1 to 2" in _error(client, str(old_id), "3", api_name="/regenerate_sentence")
    assert "No history entry 987654" in _error(client, "987654", "1", api_name="/regenerate_sentence")


def test_regenerating_a_sentence_in_a_deleted_voice_says_so(client):
    from gradio_client import handle_file

    client.predict("Gone Soon", handle_file(str(EN_CLIP)), EN_TEXT, "en", api_name="/add_voice")
    _, stats = client.predict(TWO_SENTENCES, "Gone Soon", 4, 9, api_name="/synthesize")
    client.predict("Gone Soon", api_name="/delete_voice")
    message = _error(client, str(stats["history_id"]), "1", api_name="/regenerate_sentence")
    assert "The voice of this take ('Gone Soon') is not in the library any more" in message
    assert "Available voices" not in message  # not the whole library, and no slug


def test_a_skipped_trial_stores_no_vote_and_refuses_one_later(client):
    reviewer = "skipper-one"
    client.predict("Hello there, friend.", EN, [3, 4], 6, 21, api_name="/nfe_scores")  # three pairs
    before = client.predict(6, api_name="/ab_results")["total_votes"]
    trial, _, _ = client.predict(reviewer, api_name="/ab_next_trial")
    skipped = client.predict(trial, reviewer, api_name="/ab_skip")
    assert skipped == {"trial_id": trial, "skipped": True}  # nothing about the sides is revealed
    assert "You skipped this trial" in _error(client, trial, reviewer, "A", api_name="/ab_vote")
    assert client.predict(6, api_name="/ab_results")["total_votes"] == before
    # the next trial is a new one, never the skipped one again
    again, _, _ = client.predict(reviewer, api_name="/ab_next_trial")
    assert again != trial
    assert "belongs to another reviewer" in _error(client, again, "someone-else", api_name="/ab_skip")
    client.predict(again, reviewer, "tie", api_name="/ab_vote")
    assert "already been voted on" in _error(client, again, reviewer, api_name="/ab_skip")


def test_a_skipped_pair_is_never_offered_again(client):
    client.predict("Hello there, friend.", EN, [3, 4], 6, 22, api_name="/nfe_scores")
    reviewer, seen = "skips-them-all", set()
    for _ in range(100):
        try:
            trial, _, _ = client.predict(reviewer, api_name="/ab_next_trial")
        except Exception as exc:
            assert "You have skipped every pair there is" in str(exc)
            break
        assert trial not in seen
        seen.add(trial)
        client.predict(trial, reviewer, api_name="/ab_skip")
    else:
        raise AssertionError("skipped trials kept coming back")
    assert len(seen) >= 3


def test_custom_preview_text_is_kept_in_voice_json(client, studio_server):
    from gradio_client import handle_file

    voice = client.predict("Preview text voice", handle_file(str(EN_CLIP)), EN_TEXT, "en", api_name="/add_voice")
    line = "Welcome back to the stream, everyone!"
    updated = client.predict(voice["slug"], line, api_name="/set_preview_text")
    assert updated["preview_text"] == line and updated["transcript"] == voice["transcript"]
    meta = json.loads((studio_server.folder / "voices" / voice["slug"] / "voice.json").read_text("utf-8"))
    assert meta["preview_text"] == line
    assert "keep it to 300" in _error(client, voice["slug"], "word " * 100, api_name="/set_preview_text")
    assert "Pick a voice" in _error(client, "", line, api_name="/set_preview_text")
    assert client.predict(voice["slug"], "", api_name="/set_preview_text")["preview_text"] is None
    client.predict(voice["slug"], api_name="/delete_voice")
