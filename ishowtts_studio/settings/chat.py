"""[chat] section: the live chat's queue policy, text filters, read-out templates, voice, outputs and sources."""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import ClassVar

from ishowtts_studio.settings.checks import non_empty
from ishowtts_studio.settings.fields import Section, opt

TEMPLATE_FIELDS = ("author", "text", "amount")


def check_template(value: str) -> str | None:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
    except ValueError as exc:
        return f"is not a valid template ({exc}); write placeholders as {{author}}, {{text}}, {{amount}}"
    bad = [n for n in names if n not in TEMPLATE_FIELDS]
    if bad:
        return f"uses {{{bad[0]}}}; only {{author}}, {{text}} and {{amount}} can be used"
    if value.strip() and "text" not in names and "amount" not in names:
        return "must contain {text} (or be empty to switch this kind of message off)"
    return None


@dataclass(frozen=True)
class ChatSettings(Section):
    """Live chat (issue 14): queue policy, text filters, read-out templates, voice, outputs, Twitch source."""

    toml_section: ClassVar[str] = "chat"

    max_queue: int = opt(
        50, "Most messages waiting to be spoken; when full, the lowest-priority oldest one is dropped (a paid "
        "message never while a plain one waits).", lo=1, hi=10000,
    )
    max_wait_s: float = opt(
        60.0, "A message that has waited longer than this many seconds is dropped as stale.", lo=1.0, hi=86400.0
    )
    paid_exempt_stale: bool = opt(True, "Paid messages (superchat, gift, member) are never dropped as stale.")
    cooldown_s: float = opt(
        2.0, "Per-author cooldown: a plain message within this many seconds of the author's last accepted one "
        "is dropped (0 = off; paid messages exempt).", lo=0.0, hi=3600.0,
    )
    dedupe_window_s: float = opt(
        10.0, "A message with the same text as one accepted within this many seconds is merged into it "
        "(0 = off).", lo=0.0, hi=3600.0,
    )
    max_per_viewer: int = opt(
        3, "Most plain messages (chat and mentions) one viewer may have waiting; more are dropped, so one viewer "
        "cannot fill the queue and starve the rest (0 = no limit; paid messages exempt).", lo=0, hi=1000,
    )
    hold: bool = opt(
        False, "Start in moderator hold mode: messages wait for approve/reject before being spoken (once the tab "
        "switches it, that choice is kept across restarts).",
    )
    prefetch: int = opt(
        2, "Messages synthesised ahead while the current one plays (they batch on the GPU).", lo=1, hi=16
    )
    crossfade_ms: int = opt(
        30, "Overlap between consecutive messages on the playout timeline, in milliseconds.", lo=0, hi=1000
    )
    banned_words: str = opt("", "Comma-separated words or phrases (case-insensitive); see banned_action.")
    banned_action: str = opt(
        "drop", "What a banned word does: drop the message, or replace the word with banned_replacement.",
        choices=("drop", "replace"),
    )
    banned_replacement: str = opt("beep", "Word spoken instead of a banned word when banned_action is replace.")
    links: str = opt(
        "say", "Links in a message: say replaces each with link_word, drop drops the message.", choices=("say", "drop")
    )
    link_word: str = opt("link", "Word spoken instead of a link when links is say.")
    emoji: str = opt(
        "strip", "Emoji in a message: strip removes them, drop drops the message, keep leaves them.",
        choices=("strip", "drop", "keep"),
    )
    drop_symbol_only: bool = opt(True, "Drop messages made only of symbols and punctuation (no letter or digit).")
    drop_commands: bool = opt(True, "Drop bot commands (messages starting with !).")
    bots: str = opt(
        "nightbot,streamelements,streamlabs,moobot,fossabot",
        "Comma-separated accounts whose messages are never read (case-insensitive).",
    )
    min_chars: int = opt(1, "Shortest message read, in characters after filtering.", lo=1, hi=1000)
    max_chars: int = opt(
        200, "Longest message read, in characters; longer ones are cut at a word boundary.", lo=1, hi=2000
    )
    collapse_repeats: int = opt(
        3, "Runs of a repeated character or syllable are cut to this many repeats (\"666666\" -> \"666\"; "
        "0 = off).", lo=0, hi=100,
    )
    template_chat: str = opt(
        "{author} says: {text}", "Read-out of a plain message ({author}, {text}; empty = plain chat is not read).",
        check=check_template,
    )
    template_mention: str = opt(
        "{author} says: {text}", "Read-out of a message that mentions the streamer (empty = not read).",
        check=check_template,
    )
    template_gift: str = opt(
        "{author} sent {amount}: {text}", "Read-out of a gift or bits ({amount}; empty = not read).",
        check=check_template,
    )
    template_superchat: str = opt(
        "{author} sent {amount}: {text}", "Read-out of a superchat (empty = not read).", check=check_template
    )
    template_member: str = opt(
        "{author} is now a member: {text}", "Read-out of a new membership (empty = not read).",
        check=check_template,
    )
    template_continued: str = opt(
        "{text}", "Read-out of a plain message or mention that follows straight on from a line by the same "
        "author (the name is said once per run of lines).", check=check_template,
    )
    default_voice: str = opt(
        "", "Voice for viewers without their own; empty = the first voice in the library (a voice picked in the "
        "tab wins).",
    )
    nfe: int = opt(
        0, "NFE for chat lines; 0 = the studio's adopted default NFE (an NFE set in the tab wins).", lo=0, hi=64
    )
    audio_keep_s: float = opt(
        900.0, "How long a spoken segment's audio stays fetchable by players, in seconds.", lo=10.0, hi=86400.0
    )
    keep_days: float = opt(
        30.0, "Finished chat messages older than this many days are deleted from the history (at start, then "
        "hourly), so the database stays small over months of streams; 0 = keep them forever.", lo=0.0, hi=3650.0
    )
    sounddevice: bool = opt(
        False, "Also play chat audio on a local sound device through the sounddevice package (pip install "
        "sounddevice).",
    )
    output_device: str = opt("", "Sound device name or index for sounddevice; empty = the system default.")
    twitch_channel: str = opt("", "Twitch channel whose chat is read (without #); empty = Twitch off.")
    twitch_server: str = opt("irc.chat.twitch.tv", "Twitch IRC server host.", check=non_empty)
    twitch_port: int = opt(6697, "Twitch IRC server port.", lo=1, hi=65535)
    twitch_tls: bool = opt(True, "Connect to the IRC server over TLS.")
    twitch_nick: str = opt(
        "", "Twitch login name for an OAuth login; empty = anonymous read-only login (justinfan).",
    )
    twitch_token_env: str = opt(
        "TWITCH_OAUTH_TOKEN", "Environment variable holding the OAuth token (used only with twitch_nick; the token "
        "is never stored or logged).", check=non_empty,
    )
    reconnect_max_s: float = opt(
        60.0, "Longest wait between reconnect attempts of a chat source (the wait doubles from 1 s).",
        lo=1.0, hi=3600.0,
    )

    @property
    def banned_list(self) -> list[str]:
        return [w.strip() for w in self.banned_words.split(",") if w.strip()]

    @property
    def bot_list(self) -> list[str]:
        return [w.strip().lower() for w in self.bots.split(",") if w.strip()]

    def template(self, kind: str) -> str:
        return str(getattr(self, f"template_{kind}"))
