"""What a live-chat message is: its kind, its life-cycle states, why it was dropped.

Pure data, no I/O: the policy, the service, the store tables and the UI all speak these types.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class MessageKind(StrEnum):
    CHAT = "chat"
    GIFT = "gift"
    SUPERCHAT = "superchat"
    MEMBER = "member"
    MENTION = "mention"


# Paid kinds are spoken first, are never evicted while a plain message waits, and are exempt from staleness.
PAID_KINDS = frozenset({MessageKind.SUPERCHAT, MessageKind.GIFT, MessageKind.MEMBER})


def priority_class(kind: MessageKind) -> int:
    """0 = paid (superchat, gift, member), 1 = mention, 2 = plain chat; lower is spoken first."""
    if kind in PAID_KINDS:
        return 0
    return 1 if kind is MessageKind.MENTION else 2


class MessageState(StrEnum):
    HELD = "held"  # waiting for a moderator's approve/reject (hold mode)
    QUEUED = "queued"  # accepted, waiting for its turn
    SYNTHESIZING = "synthesizing"  # handed to the runtime
    READY = "ready"  # audio is ready, waiting for the playout timeline
    SPEAKING = "speaking"  # on the timeline now
    SPOKEN = "spoken"  # final
    DROPPED = "dropped"  # final, with a DropReason
    FAILED = "failed"  # final, with the error


FINAL_STATES = frozenset({MessageState.SPOKEN, MessageState.DROPPED, MessageState.FAILED})
WAITING_STATES = frozenset({MessageState.HELD, MessageState.QUEUED})


class DropReason(StrEnum):
    FULL = "full"  # evicted (or refused) because the queue was at max_queue
    STALE = "stale"  # waited longer than max_wait_s
    COOLDOWN = "cooldown"  # the author spoke less than cooldown_s ago
    DUPLICATE = "duplicate"  # the same text was accepted within dedupe_window_s (merged into it)
    FILTERED = "filtered"  # a text filter refused it (banned word, link, command, bot, emoji, length, ...)
    REJECTED = "rejected"  # a moderator rejected it in hold mode, or the queue was cleared


@dataclass
class ChatMessage:
    """One message from arrival to its final state. Times are epoch seconds of the service's clock."""

    author: str
    text: str  # as received
    kind: MessageKind = MessageKind.CHAT
    amount: float = 0.0
    platform: str = "api"
    arrived_at: float = 0.0
    id: int = 0  # database id; 0 until stored
    state: MessageState = MessageState.QUEUED
    reason: DropReason | None = None
    detail: str = ""  # why it was filtered, or the synthesis error when failed
    clean_text: str = ""  # the text after filters (without template)
    spoken_text: str = ""  # what the voice says (template applied)
    voice: str = ""  # voice name used (or to be used)
    duplicates: int = 0  # messages merged into this one
    first_audio_at: float | None = None  # when its first audio was ready (arrival -> first audio figure)
    started_at: float | None = None  # when its segment starts on the playout timeline
    finished_at: float | None = None  # when it reached its final state
    extra: dict[str, Any] = field(default_factory=dict)  # source-specific (badges, ...), never secrets

    @property
    def priority(self) -> int:
        return priority_class(self.kind)

    @property
    def paid(self) -> bool:
        return self.kind in PAID_KINDS

    @property
    def final(self) -> bool:
        return self.state in FINAL_STATES

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["kind"] = str(self.kind)
        out["state"] = str(self.state)
        out["reason"] = str(self.reason) if self.reason is not None else None
        return out
