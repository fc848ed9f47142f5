"""Chat text policy (pure, no torch): collapse, every filter, truncation, templates, author-once rule."""

from __future__ import annotations

import pytest

from ishowtts_studio.services.chat.filters import (
    TextRules,
    choose_template,
    clean,
    collapse_repeats,
    format_amount,
    render,
)
from ishowtts_studio.services.chat.model import MessageKind
from ishowtts_studio.settings import ChatSettings, ConfigError, load_settings


@pytest.mark.parametrize(
    ("text", "keep", "want"),
    [
        ("666666", 3, "666"),
        ("哈哈哈哈哈哈", 3, "哈哈哈"),
        ("hahahahaha lol", 3, "hahaha lol"),
        ("xdxdxdxdxd", 2, "xdxd"),
        ("!!!!!!!", 3, "!!!"),
        ("666", 3, "666"),  # already short: unchanged
        ("good game 2333333333", 3, "good game 2333"),
        ("666666", 0, "666666"),  # off
        ("hello", 3, "hello"),  # "ll" is below the limit
        ("草草草草草草草 哈哈哈哈", 2, "草草 哈哈"),
    ],
)
def test_collapse_repeats(text: str, keep: int, want: str) -> None:
    assert collapse_repeats(text, keep) == want


def test_plain_text_passes_unchanged() -> None:
    out = clean("alice", "hello   there,  nice stream", TextRules())
    assert out.ok and out.text == "hello there, nice stream"


def test_bots_are_dropped_case_insensitively() -> None:
    rules = TextRules(bots=("nightbot",))
    out = clean("NightBot", "Follow the channel!", rules)
    assert not out.ok and "bot" in out.why
    assert clean("alice", "Follow the channel!", rules).ok


def test_commands_dropped_or_kept() -> None:
    assert not clean("a", "!uptime", TextRules()).ok
    assert clean("a", "!uptime", TextRules(drop_commands=False)).text == "!uptime"
    assert clean("a", "wow !", TextRules()).ok  # only a leading ! is a command


def test_banned_words_drop_or_replace() -> None:
    drop = TextRules(banned=("darn", "坏词"))
    assert not clean("a", "well DARN it", drop).ok
    assert clean("a", "darnation is fine", drop).ok  # whole words only for Latin text
    assert not clean("a", "这是坏词啊", drop).ok  # CJK: any occurrence
    rep = TextRules(banned=("darn",), banned_action="replace", banned_replacement="beep")
    assert clean("a", "well darn it", rep).text == "well beep it"


def test_links_say_or_drop() -> None:
    say = TextRules(links="say", link_word="link")
    assert clean("a", "look https://example.com/x?y=1 now", say).text == "look link now"
    assert clean("a", "go to www.example.org", say).text == "go to link"
    assert clean("a", "twitch.tv/somebody is live", say).text == "link is live"
    assert clean("a", "pi is 3.14, e.g. this", say).text == "pi is 3.14, e.g. this"  # not links
    out = clean("a", "look https://example.com", TextRules(links="drop"))
    assert not out.ok and "link" in out.why


def test_emoji_strip_drop_keep() -> None:
    assert clean("a", "nice 😂😂 one 👍🏽", TextRules(emoji="strip")).text == "nice one"
    assert not clean("a", "nice 😂", TextRules(emoji="drop")).ok
    assert clean("a", "nice 😂", TextRules(emoji="keep")).text == "nice 😂"
    # a message of emoji only has nothing left to read once stripped
    out = clean("a", "🔥🔥🔥", TextRules(emoji="strip"))
    assert not out.ok and "nothing" in out.why


def test_symbol_only() -> None:
    assert not clean("a", "?!?! ...", TextRules()).ok
    assert clean("a", "?!?! ...", TextRules(drop_symbol_only=False)).ok
    assert clean("a", "?", TextRules(drop_symbol_only=False)).text == "?"
    assert clean("a", "第一", TextRules()).ok  # CJK letters are letters


def test_min_and_max_length() -> None:
    assert not clean("a", "hi", TextRules(min_chars=3)).ok
    assert clean("a", "hey", TextRules(min_chars=3)).ok
    long = "one two three four five six seven eight nine ten"
    out = clean("a", long, TextRules(max_chars=20)).text
    assert out == "one two three four…"  # cut at the last space, marked
    zh = "今天的直播真的非常好看谢谢主播"
    assert clean("a", zh, TextRules(max_chars=5)).text == "今天的直播…"  # no spaces: hard cut


def test_rules_from_settings() -> None:
    s = ChatSettings(banned_words="foo, bar ,", bots="Nightbot", links="drop", max_chars=10)
    r = TextRules.from_settings(s)
    assert r.banned == ("foo", "bar") and r.bots == ("nightbot",) and r.links == "drop" and r.max_chars == 10


def test_format_amount() -> None:
    assert format_amount(100.0) == "100"
    assert format_amount(4.99) == "4.99"
    assert format_amount(2.5) == "2.5"


def test_render_templates() -> None:
    assert render("{author} says: {text}", "ann", "hi") == "ann says: hi"
    assert render("{author} sent {amount}: {text}", "bob", "gg", 500) == "bob sent 500: gg"
    assert render("{author} is now a member: {text}", "cy", "") == "cy is now a member"
    assert render("", "ann", "hi") is None
    assert render("   ", "ann", "hi") is None


def test_author_named_only_on_first_consecutive_plain_message() -> None:
    t = {"chat": "{author} says: {text}", "mention": "{author} says: {text}", "gift": "{author} sent {amount}: {text}",
         "continued": "{text}"}
    assert choose_template(t, MessageKind.CHAT, same_author_as_previous=False) == t["chat"]
    assert choose_template(t, MessageKind.CHAT, same_author_as_previous=True) == "{text}"
    assert choose_template(t, MessageKind.MENTION, same_author_as_previous=True) == "{text}"
    # paid messages always name who paid
    assert choose_template(t, MessageKind.GIFT, same_author_as_previous=True) == t["gift"]
    # an empty template switches the kind off even for a continued message
    assert choose_template({**t, "chat": ""}, MessageKind.CHAT, same_author_as_previous=True) == ""
    assert choose_template(t, MessageKind.SUPERCHAT, same_author_as_previous=False) == ""


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("{user} says {text}", "only {author}, {text} and {amount}"),
        ("{author} says {text", "not a valid template"),
        ("{author} joined", "must contain {text}"),
    ],
)
def test_bad_templates_are_config_errors(tmp_path, value: str, fragment: str) -> None:  # noqa: ANN001
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[chat]\ntemplate_chat = "{value}"\n')
    with pytest.raises(ConfigError, match="chat.template_chat") as err:
        load_settings(cfg, environ={})
    assert fragment in str(err.value)


def test_empty_template_is_allowed() -> None:
    assert ChatSettings(template_chat="").template("chat") == ""


@pytest.mark.parametrize("text", ["bad\u200bword here", "ｂａｄｗｏｒｄ here", "b\u00adadword here",
                                  "bad\u2060word here"])
def test_invisible_and_fullwidth_characters_do_not_hide_a_banned_word(text: str) -> None:
    """Chat arrives through intake's cleaning (NFKC, invisible characters out) before the filters: a zero-width
    space, a soft hyphen or fullwidth letters no longer carry a banned word past them."""
    from ishowtts_studio.services.chat.intake import _visible

    assert not clean("a", _visible(text), TextRules(banned=("badword",))).ok


def test_invisible_suffixes_do_not_defeat_dedupe_or_commands() -> None:
    from ishowtts_studio.services.chat.intake import _visible
    from ishowtts_studio.services.chat.policy import dedupe_key

    # Chatterino / 7TV append these to repeat a message past Twitch's duplicate check
    assert {dedupe_key(_visible(t)) for t in ("gg", "gg\U000e0000", "gg \u034f", "ｇｇ")} == {"gg"}
    assert not clean("a", _visible("\u200b!uptime"), TextRules()).ok
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    assert _visible(family) == family  # emoji keep their joiners


@pytest.mark.parametrize(("text", "replaced"), [("what the fυсk", "what the beep"), ("FUСK this", "beep this"),
                                              ("fսck it", "beep it"), ("what the fuck", "what the beep")])
def test_lookalike_letters_do_not_hide_a_banned_word(text: str, replaced: str) -> None:
    """Greek, Cyrillic or Armenian letters that look like Latin ones (TR39 confusables) do not carry a banned
    word past the filter; replacing keeps the rest of the line as it was typed."""
    assert not clean("a", text, TextRules(banned=("fuck",))).ok
    assert clean("a", text, TextRules(banned=("fuck",), banned_action="replace",
                                      banned_replacement="beep")).text == replaced


def test_lookalike_matching_keeps_whole_words_and_overlaps() -> None:
    rules = TextRules(banned=("hell", "hello"), banned_action="replace", banned_replacement="beep")
    assert clean("a", "shell and hellо there", rules).text == "shell and beep there"  # Cyrillic о in hello
    assert clean("a", "he11 no", rules).text == "beep no"  # digit ones for ells: the same skeleton
    assert clean("a", "Hello, Hell!", rules).text == "beep, beep!"
    assert clean("a", "a shellfish", rules).text == "a shellfish"
