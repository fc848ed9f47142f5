"""Pure queue policy for live chat over an injected clock: no threads, no I/O.

Which message is spoken next, which is dropped and why. Every method returns the messages whose state it
changed, so the caller (the service) can record each change; a message leaves the policy either by `pop`
(its turn to be synthesised) or in a final DROPPED state with a reason.

Rules:
- priority classes: paid (superchat, gift, member) before mentions before plain chat; FIFO within a class;
- `max_queue`: when full, the lowest-priority oldest waiting message (or the newcomer, when it is itself the
  lowest) is dropped as `full`; a paid message is never evicted, so a newcomer finding only paid messages is
  refused;
- `max_wait_s`: a message that has waited longer is dropped as `stale` when the queue is next served (paid
  messages exempt unless `paid_exempt_stale` is off); waiting starts when the message enters the queue (on
  approval in hold mode: the moderator's decision counts, not the time spent in hold);
- `cooldown_s` per author, `max_per_viewer` (a viewer's plain messages waiting at once, queued or held; more are
  dropped as `cooldown`) and `dedupe_window_s` for the same text (merged into the earlier message, unless that
  one was dropped or failed: it will never be heard) apply to plain chat and mentions only;
- hold mode: accepted messages wait in `held` until approve (queued) or reject (dropped as `rejected`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import regex

from ishowtts_studio.services.chat.model import ChatMessage, DropReason, MessageState

_NOT_WORD = regex.compile(r"[\p{P}\p{S}\s]+")


@dataclass(frozen=True)
class QueueRules:
    max_queue: int = 50
    max_wait_s: float = 60.0
    paid_exempt_stale: bool = True
    cooldown_s: float = 0.0
    dedupe_window_s: float = 0.0
    max_per_viewer: int = 0

    @classmethod
    def from_settings(cls, s: Any) -> QueueRules:
        return cls(max_queue=s.max_queue, max_wait_s=s.max_wait_s, paid_exempt_stale=s.paid_exempt_stale,
                   cooldown_s=s.cooldown_s, dedupe_window_s=s.dedupe_window_s, max_per_viewer=s.max_per_viewer)


def dedupe_key(text: str) -> str:
    """Texts that read the same: case, spacing and punctuation do not count ("GG!!" == "gg")."""
    return _NOT_WORD.sub("", text.casefold())


def drop(msg: ChatMessage, reason: DropReason, detail: str, now: float) -> ChatMessage:
    msg.state, msg.reason, msg.detail, msg.finished_at = MessageState.DROPPED, reason, detail, now
    return msg


class ChatPolicy:
    def __init__(self, rules: QueueRules, clock: Callable[[], float], *, hold: bool = False) -> None:
        self.rules = rules
        self.clock = clock
        self.hold = hold
        self._queued: list[ChatMessage] = []
        self._held: list[ChatMessage] = []
        self._order: dict[int, int] = {}  # id(msg) -> arrival order (FIFO tie-break)
        self._queued_at: dict[int, float] = {}  # id(msg) -> when it entered the queue (staleness clock)
        self._seq = itertools.count()
        self._last_by_author: dict[str, float] = {}
        self._recent_texts: dict[str, tuple[float, ChatMessage]] = {}  # dedupe key -> (accepted at, message)
        self._front = 0  # orders below every arrival: requeue_front
        self._last_popped: tuple[ChatMessage | None, float] = (None, 0.0)

    # ---- reading ---------------------------------------------------------------------------------
    def waiting(self) -> list[ChatMessage]:
        """Queued messages in the order they will be spoken."""
        return sorted(self._queued, key=self._rank)

    def held(self) -> list[ChatMessage]:
        """Messages waiting for a moderator, oldest first."""
        return sorted(self._held, key=lambda m: self._order[id(m)])

    @property
    def depth(self) -> int:
        return len(self._queued)

    def waiting_since(self, msg: ChatMessage) -> float:
        return self._queued_at.get(id(msg), msg.arrived_at)

    def _rank(self, m: ChatMessage) -> tuple[int, int]:
        return (m.priority, self._order[id(m)])

    # ---- messages in -----------------------------------------------------------------------------
    def offer(self, msg: ChatMessage) -> list[ChatMessage]:
        """Accept (queued or held), merge, or drop one new message; returns every message whose state changed."""
        now = self.clock()
        self._order[id(msg)] = next(self._seq)
        if not msg.paid:
            key = dedupe_key(msg.clean_text or msg.text)
            seen = self._recent_texts.get(key)
            # an original that was rejected, cleared, gone stale or failed will never be heard: nothing to merge into
            heard = seen is not None and seen[1].state not in (MessageState.DROPPED, MessageState.FAILED)
            if heard and self.rules.dedupe_window_s > 0 and now - seen[0] < self.rules.dedupe_window_s:
                first = seen[1]
                first.duplicates += 1
                self._forget(msg)
                return [drop(msg, DropReason.DUPLICATE, f"same text as message {first.id or 'before'}", now), first]
            author = msg.author.casefold()
            last = self._last_by_author.get(author)
            if last is not None and self.rules.cooldown_s > 0 and now - last < self.rules.cooldown_s:
                self._forget(msg)
                return [drop(msg, DropReason.COOLDOWN, f"{msg.author} spoke {now - last:.1f} s ago", now)]
            cap = self.rules.max_per_viewer
            if cap > 0 and sum(not m.paid and m.author.casefold() == author
                               for m in (*self._queued, *self._held)) >= cap:
                # a mention outranks plain chat: one viewer naming the channel every few seconds starved everyone
                self._forget(msg)
                return [drop(msg, DropReason.COOLDOWN, f"{msg.author} already has {cap} messages waiting", now)]
        if self.hold:
            msg.state = MessageState.HELD
            changed = [msg, *self._admit(self._held, msg, now)]
        else:
            changed = self._enqueue(msg, now)
        if msg.state is not MessageState.DROPPED:  # a refused message starts no cooldown and is no dedupe original
            self._last_by_author[msg.author.casefold()] = now
            if not msg.paid:
                self._recent_texts[dedupe_key(msg.clean_text or msg.text)] = (now, msg)
        self._prune_recent(now)
        return changed

    def restore(self, msg: ChatMessage) -> None:
        """Put back a message that was waiting before a restart (state queued or held), with no checks; its
        staleness clock restarts from its arrival, so a long restart drops stale chat at the next `pop`."""
        self._order[id(msg)] = next(self._seq)
        if msg.state is MessageState.HELD:
            self._held.append(msg)
        else:
            msg.state = MessageState.QUEUED
            self._queued_at[id(msg)] = msg.arrived_at
            self._queued.append(msg)

    def requeue_front(self, msg: ChatMessage) -> None:
        """Put a just-popped message back first in line (its turn came but the runtime could not take it);
        its staleness clock keeps running from when it was first queued."""
        self._front -= 1
        self._order[id(msg)] = self._front
        last, since = self._last_popped
        self._queued_at[id(msg)] = since if last is msg else msg.arrived_at
        msg.state = MessageState.QUEUED
        self._queued.append(msg)

    def _enqueue(self, msg: ChatMessage, now: float) -> list[ChatMessage]:
        msg.state = MessageState.QUEUED
        self._queued_at[id(msg)] = now
        return [msg, *self._admit(self._queued, msg, now)]

    def _admit(self, line: list[ChatMessage], msg: ChatMessage, now: float) -> list[ChatMessage]:
        """Add msg to a line (queue or hold); when over max_queue, drop the lowest-priority oldest one."""
        line.append(msg)
        if len(line) <= self.rules.max_queue:
            return []
        worst = max(m.priority for m in line)
        if worst == 0:  # only paid messages: the newcomer is refused, an accepted paid message never evicted
            victim = msg
        else:
            victim = min((m for m in line if m.priority == worst), key=lambda m: self._order[id(m)])
        line.remove(victim)
        self._forget(victim)
        where = "queue" if line is self._queued else "hold list"
        drop(victim, DropReason.FULL, f"the {where} was full ({self.rules.max_queue})", now)
        return [] if victim is msg else [victim]

    def _prune_recent(self, now: float) -> None:
        window = self.rules.dedupe_window_s
        for key in [k for k, (t, _) in self._recent_texts.items() if now - t >= window]:
            del self._recent_texts[key]
        horizon = max(self.rules.cooldown_s, 1.0)
        for a in [a for a, t in self._last_by_author.items() if now - t >= horizon]:
            del self._last_by_author[a]

    def _forget(self, msg: ChatMessage) -> None:
        self._order.pop(id(msg), None)
        self._queued_at.pop(id(msg), None)

    # ---- serving ---------------------------------------------------------------------------------
    def expire(self) -> list[ChatMessage]:
        """Drop queued messages that have waited longer than max_wait_s (stale chat is worse than none)."""
        now = self.clock()
        out = []
        for m in list(self._queued):
            if m.paid and self.rules.paid_exempt_stale:
                continue
            waited = now - self.waiting_since(m)
            if waited > self.rules.max_wait_s:
                self._queued.remove(m)
                self._forget(m)
                out.append(drop(m, DropReason.STALE, f"waited {waited:.0f} s (max_wait_s {self.rules.max_wait_s:g})",
                                now))
        return out

    def pop(self) -> tuple[ChatMessage | None, list[ChatMessage]]:
        """(the next message to speak or None, messages dropped as stale on the way). The popped message's
        state is left to the caller (it becomes synthesizing)."""
        dropped = self.expire()
        if not self._queued:
            return None, dropped
        nxt = min(self._queued, key=self._rank)
        self._last_popped = (nxt, self.waiting_since(nxt))
        self._queued.remove(nxt)
        self._forget(nxt)
        return nxt, dropped

    # ---- moderator -------------------------------------------------------------------------------
    def _take_held(self, message_id: int) -> ChatMessage:
        for m in self._held:
            if m.id == message_id:
                self._held.remove(m)
                return m
        raise KeyError(message_id)

    def approve(self, message_id: int) -> list[ChatMessage]:
        """Move a held message into the queue (KeyError when no held message has that id)."""
        m = self._take_held(message_id)
        return self._enqueue(m, self.clock())

    def reject(self, message_id: int) -> list[ChatMessage]:
        m = self._take_held(message_id)
        self._forget(m)
        return [drop(m, DropReason.REJECTED, "rejected by a moderator", self.clock())]

    def set_hold(self, on: bool) -> list[ChatMessage]:
        """Switch hold mode; switching it off queues everything held (in arrival order)."""
        self.hold = on
        if on:
            return []
        out: list[ChatMessage] = []
        for m in self.held():
            self._held.remove(m)
            out.extend(self._enqueue(m, self.clock()))
        return out

    def clear(self) -> list[ChatMessage]:
        """Drop everything waiting (queued and held) as rejected: the streamer cleared the queue."""
        now = self.clock()
        out = [drop(m, DropReason.REJECTED, "the queue was cleared", now) for m in [*self._queued, *self._held]]
        for m in out:
            self._forget(m)
        self._queued.clear()
        self._held.clear()
        return out
