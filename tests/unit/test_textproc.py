"""Text clean-up and byte-limited chunking."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ishowtts_studio.textproc import TextError, is_cjk, normalize_text, split_sentences, utf8_len

# --------------------------------------------------------------------------------------------
# normalize_text


def test_collapses_whitespace_and_nfc() -> None:
    decomposed = "Cafe\u0301  au\tlait\n\n  please  "
    out = normalize_text(decomposed, 100)
    assert out == "Caf\u00e9 au lait please"
    assert unicodedata.is_normalized("NFC", out)


def test_removes_controls_and_emoji_keeps_scripts() -> None:
    text = "Hi\u200b there\x07! 😀 I ❤️ you 👍🏽. 你好，世界！ 3.5% of $20 — «ok» ¿qué? Привет"
    out = normalize_text(text, 500)
    assert out == "Hi there! I you . 你好，世界！ 3.5% of $20 — «ok» ¿qué? Привет"
    assert "\u200b" not in out and "\x07" not in out and "😀" not in out and "\ufe0f" not in out


def test_ideographic_space_and_nbsp_collapse() -> None:
    assert normalize_text("你好\u3000\u3000世界\u00a0ok", 50) == "你好 世界 ok"


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t \u3000"])
def test_empty_text(text: str | None) -> None:
    with pytest.raises(TextError, match=r"^Type some text to speak\.$"):
        normalize_text(text, 100)


@pytest.mark.parametrize("text", ["😀🎉👍🏽", "...!!!???", "—", "❤️ ✨ ★", "\u200b\u200d"])
def test_nothing_speakable(text: str) -> None:
    with pytest.raises(TextError) as info:
        normalize_text(text, 100)
    msg = str(info.value)
    assert "nothing to speak" in msg and "punctuation, symbols or emoji" in msg


def test_digits_alone_are_speakable() -> None:
    assert normalize_text("  42 ", 10) == "42"


def test_too_long() -> None:
    with pytest.raises(TextError) as info:
        normalize_text("word " * 500, 2000)
    msg = str(info.value)
    assert "2499 characters" in msg
    assert "limit is 2000" in msg
    assert "engine.max_text_chars" in msg
    assert "Split" in msg
    assert normalize_text("a" * 2000, 2000) == "a" * 2000  # exactly at the limit is fine


def test_length_counts_cleaned_text() -> None:
    # Emoji and padding that get removed do not count against the limit.
    assert normalize_text("  hello 😀😀😀😀😀  ", 7) == "hello"


# --------------------------------------------------------------------------------------------
# helpers


def test_utf8_len_and_is_cjk() -> None:
    assert utf8_len("abc") == 3
    assert utf8_len("你好") == 6
    assert utf8_len("é") == 2
    assert utf8_len("😀") == 4
    assert all(is_cjk(ch) for ch in "你好世界。！カナひら한")
    assert not any(is_cjk(ch) for ch in "aZ1.!é ")
    assert not is_cjk("")


# --------------------------------------------------------------------------------------------
# split_sentences


def test_english_sentences_pack_under_limit() -> None:
    text = (
        "The studio clones a voice from a short clip. It streams audio as it is made! "
        "Does it work offline? Yes; the weights can be local: just point the config at them."
    )
    chunks = split_sentences(text, max_chars=80)
    assert all(utf8_len(c) <= 80 for c in chunks)
    # Whole sentences are packed greedily; ";" and ":" also end a sentence.
    assert chunks == [
        "The studio clones a voice from a short clip. It streams audio as it is made!",
        "Does it work offline? Yes; the weights can be local:",
        "just point the config at them.",
    ]
    assert " ".join(chunks).split() == text.split()


def test_sentence_ends_only_before_space() -> None:
    chunks = split_sentences("Pi is 3.14 today. Version v1.2 ships.", max_chars=20)
    assert chunks == ["Pi is 3.14 today.", "Version v1.2 ships."]


def test_chinese_sentences() -> None:
    text = "今天天气很好。我们一起去公园散步吧！你觉得怎么样？好的：走吧…"
    chunks = split_sentences(text, max_chars=40)
    # 21 + 33 bytes > 40, so the first two sentences cannot share a chunk; the last three (39 bytes) can.
    assert chunks == ["今天天气很好。", "我们一起去公园散步吧！", "你觉得怎么样？好的：走吧…"]
    assert "".join(chunks) == text
    assert all(utf8_len(c) <= 40 for c in chunks)


def test_chinese_chunks_have_no_added_spaces() -> None:
    text = "第一句。第二句。第三句。"
    assert split_sentences(text, max_chars=135) == [text]


def test_long_chinese_sentence_split_at_commas_then_characters() -> None:
    text = "这是一个非常长的句子，里面有很多很多的字，" + "没有标点一直写下去" * 8 + "。"
    chunks = split_sentences(text, max_chars=45)
    assert all(0 < utf8_len(c) <= 45 for c in chunks)
    assert chunks[0] == "这是一个非常长的句子，"
    assert chunks[1] == "里面有很多很多的字，"
    assert "".join(chunks) == text


def test_long_english_sentence_split_at_commas_then_spaces() -> None:
    text = (
        "When the reference clip is noisy, the cloned voice inherits the noise, "
        "so the studio trims and cleans every upload before it stores the voice in the library"
    )
    chunks = split_sentences(text, max_chars=60)
    assert all(utf8_len(c) <= 60 for c in chunks)
    assert chunks[0].endswith(",")
    assert " ".join(chunks).split() == text.split()
    assert all(w in text.split() for c in chunks for w in c.split())  # no word was cut in half


def test_long_word_is_cut_by_characters() -> None:
    url = "https://example.com/" + "a" * 200
    chunks = split_sentences(f"See {url} now.", max_chars=50)
    assert all(utf8_len(c) <= 50 for c in chunks)
    assert "".join(chunks).replace(" ", "") == f"See{url}now."


def test_byte_limit_not_character_limit() -> None:
    # 30 Chinese characters = 90 bytes: over a 60-byte limit although only 30 characters.
    text = "我" * 30
    chunks = split_sentences(text, max_chars=60)
    assert len(chunks) == 2
    assert all(utf8_len(c) <= 60 for c in chunks)
    assert "".join(chunks) == text


def test_balanced_cut_avoids_tiny_tail() -> None:
    text = " ".join(["word"] * 30)  # 149 bytes, no punctuation
    chunks = split_sentences(text, max_chars=135)
    assert len(chunks) == 2
    assert min(utf8_len(c) for c in chunks) > 50


def test_first_chunk_limit() -> None:
    text = "Welcome back to the stream, everybody, and thank you so much for the follows today. We have a lot to cover."
    chunks = split_sentences(text, max_chars=135, first_chunk_chars=30)
    assert utf8_len(chunks[0]) <= 30
    assert chunks[0] == "Welcome back to the stream,"
    assert all(utf8_len(c) <= 135 for c in chunks[1:])
    assert " ".join(chunks).split() == text.split()


def test_first_chunk_short_sentence_kept_whole() -> None:
    text = "Hi! " + "This is the rest of the message. " * 3
    chunks = split_sentences(text, max_chars=135, first_chunk_chars=20)
    assert chunks[0] == "Hi!"  # the next sentence (32 bytes) does not fit in 20
    assert chunks[1:] == [text[4:].strip()]  # the rest packs into one 98-byte chunk


def test_first_chunk_cjk() -> None:
    text = "大家好，欢迎来到直播间，今天我们来聊一聊语音合成。"
    chunks = split_sentences(text, max_chars=135, first_chunk_chars=20)
    assert utf8_len(chunks[0]) <= 20
    assert chunks[0] == "大家好，"
    assert "".join(chunks) == text


def test_empty_and_whitespace() -> None:
    assert split_sentences("") == []
    assert split_sentences("   \n ") == []


def test_invalid_limits() -> None:
    with pytest.raises(ValueError):
        split_sentences("hello", max_chars=3)
    with pytest.raises(ValueError):
        split_sentences("hello", max_chars=100, first_chunk_chars=2)


# --------------------------------------------------------------------------------------------
# property: nothing lost, nothing reordered, limits hold

_words = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0123456789'-", min_size=1, max_size=25),
    st.text(alphabet="你好世界语音合成天气很今日本", min_size=1, max_size=30),
    st.text(alphabet="éüñçøÅß", min_size=1, max_size=8),
    st.sampled_from(["😀", "Привет", "naïve", "e\u0301", "3.14"]),
)
_seps = st.sampled_from([" ", " ", " ", ", ", ". ", "! ", "? ", "; ", ": ", "。", "，", "、", "！", "…", " ... ", "\n"])


@st.composite
def _texts(draw: st.DrawFn) -> str:
    words = draw(st.lists(_words, min_size=1, max_size=60))
    out = words[0]
    for w in words[1:]:
        out += draw(_seps) + w
    return out + draw(st.sampled_from(["", ".", "。", "!"]))


@settings(max_examples=300, deadline=None)
@given(
    text=_texts(), max_chars=st.integers(min_value=20, max_value=200), first=st.one_of(st.none(), st.integers(10, 80))
)
def test_roundtrip_property(text: str, max_chars: int, first: int | None) -> None:
    chunks = split_sentences(text, max_chars=max_chars, first_chunk_chars=first)
    assert chunks, "non-empty text must give at least one chunk"
    assert all(c and c == c.strip() for c in chunks)
    if first is not None:
        assert utf8_len(chunks[0]) <= first
        assert all(utf8_len(c) <= max_chars for c in chunks[1:])
    else:
        assert all(utf8_len(c) <= max_chars for c in chunks)
    # Every non-space character survives, in order.
    assert "".join("".join(chunks).split()) == "".join(text.split())
    # Words stay whole unless a single word is longer than the limit.
    limit = min(max_chars, first) if first is not None else max_chars
    # (Chinese-style marks end a sentence even inside a space-delimited "word", so those texts are skipped.)
    spaceless_ends = any(is_cjk(ch) or ch == "\u2026" for ch in text)
    if all(utf8_len(w) <= limit // 2 for w in text.split()) and not spaceless_ends:
        assert " ".join(chunks).split() == text.split()


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=300))
def test_normalize_never_crashes_and_output_is_clean(text: str) -> None:
    try:
        out = normalize_text(text, 1000)
    except TextError:
        return
    assert out == out.strip() and "  " not in out
    assert not any(unicodedata.category(ch) in ("Cc", "Cf", "So") for ch in out)
    assert any(unicodedata.category(ch)[0] in "LN" for ch in out)
    assert normalize_text(out, 1000) == out  # idempotent


# --------------------------------------------------------------------------------------------
# chunk_for_engine: the studio's chunking, with short texts kept whole


def test_short_text_stays_whole_long_text_gets_a_short_first_chunk() -> None:
    from ishowtts_studio.settings import EngineSettings
    from ishowtts_studio.textproc import chunk_for_engine

    line = "Thanks for the raid, everyone! That was a wild fight, and the boss nearly got us twice."  # 87 bytes
    engine = EngineSettings()
    assert (engine.first_chunk_chars, engine.chunk_chars, engine.single_chunk_chars) == (60, 135, 135)
    assert chunk_for_engine(line, engine) == [line]
    # before: every text over first_chunk_chars was split, so a chat line ran the reference through the sampler twice
    split = chunk_for_engine(line, EngineSettings(single_chunk_chars=0))
    assert len(split) == 2 and utf8_len(split[0]) <= 60 and " ".join(split) == line
    long = " ".join([line] * 3)  # 263 bytes: over the whole-text limit, so streaming still starts early
    chunks = chunk_for_engine(long, engine)
    assert utf8_len(chunks[0]) <= 60 and all(utf8_len(c) <= 135 for c in chunks) and " ".join(chunks) == long
    # counted in bytes, as the chunker counts: 30 Chinese characters are 90 bytes, 50 are 150
    zh = "大家好欢迎来到今天的直播间我们一起来玩这个游戏吧谢谢你们"
    assert chunk_for_engine(zh, engine) == [zh] and utf8_len(zh) <= 135
    assert len(chunk_for_engine(zh * 2, engine)) > 1


def test_single_chunk_limit_never_exceeds_chunk_chars() -> None:
    from ishowtts_studio.settings import EngineSettings
    from ishowtts_studio.textproc import chunk_for_engine

    line = "word " * 30  # 149 bytes after collapsing
    chunks = chunk_for_engine(line, EngineSettings(single_chunk_chars=500, chunk_chars=100))
    assert len(chunks) >= 2 and utf8_len(chunks[0]) <= 60 and all(utf8_len(c) <= 100 for c in chunks)
