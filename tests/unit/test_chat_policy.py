"""Chat queue policy (pure, no torch, fake clock): priorities, caps/eviction, staleness, cooldown, dedupe, hold."""

from __future__ import annotations

import itertools

import pytest

from ishowtts_studio.services.chat.model import ChatMessage, DropReason, MessageKind, MessageState
from ishowtts_studio.services.chat.policy import ChatPolicy, QueueRules, dedupe_key


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, s: float) -> None:
        self.t += s


_ids = itertools.count(1)


def msg(author: str, text: str, kind: str = "chat", amount: float = 0.0, clock: FakeClock | None = None) -> ChatMessage:
    m = ChatMessage(author=author, text=text, kind=MessageKind(kind), amount=amount,
                    arrived_at=clock() if clock else 0.0, id=next(_ids))
    m.clean_text = text
    return m


def make(clock: FakeClock | None = None, **rules: object) -> tuple[ChatPolicy, FakeClock]:
    clock = clock or FakeClock()
    return ChatPolicy(QueueRules(**rules), clock), clock  # type: ignore[arg-type]


def drain(p: ChatPolicy) -> list[str]:
    out = []
    while True:
        m, _ = p.pop()
        if m is None:
            return out
        out.append(m.text)


def test_priority_classes_and_fifo_within_a_class() -> None:
    p, clock = make()
    for author, text, kind in [("a", "c1", "chat"), ("b", "m1", "mention"), ("c", "g1", "gift"),
                               ("d", "c2", "chat"), ("e", "s1", "superchat"), ("f", "mem1", "member"),
                               ("g", "m2", "mention")]:
        clock.advance(0.1)
        changed = p.offer(msg(author, text, kind))
        assert [m.state for m in changed] == [MessageState.QUEUED]
    assert [m.text for m in p.waiting()] == ["g1", "s1", "mem1", "m1", "m2", "c1", "c2"]
    assert drain(p) == ["g1", "s1", "mem1", "m1", "m2", "c1", "c2"]


def test_full_queue_evicts_lowest_priority_oldest() -> None:
    p, clock = make(max_queue=3)
    first, second = msg("a", "c1"), msg("b", "c2")
    p.offer(first)
    p.offer(second)
    p.offer(msg("c", "m1", "mention"))
    gift = msg("d", "g1", "gift", 100)
    changed = p.offer(gift)
    # the oldest plain message made room for the paid one
    assert gift.state is MessageState.QUEUED
    assert changed == [gift, first]
    assert first.state is MessageState.DROPPED and first.reason is DropReason.FULL and "full" in first.detail
    assert [m.text for m in p.waiting()] == ["g1", "m1", "c2"]


def test_full_queue_plain_newcomer_evicts_oldest_plain() -> None:
    p, _ = make(max_queue=2)
    a, b, c = msg("a", "c1"), msg("b", "c2"), msg("c", "c3")
    for m in (a, b, c):
        p.offer(m)
    assert a.reason is DropReason.FULL and c.state is MessageState.QUEUED
    assert [m.text for m in p.waiting()] == ["c2", "c3"]


def test_full_queue_of_higher_classes_refuses_a_plain_newcomer() -> None:
    p, _ = make(max_queue=2)
    p.offer(msg("a", "m1", "mention"))
    p.offer(msg("b", "g1", "gift"))
    plain = msg("c", "c1")
    assert p.offer(plain) == [plain]
    assert plain.state is MessageState.DROPPED and plain.reason is DropReason.FULL
    assert [m.text for m in p.waiting()] == ["g1", "m1"]


def test_paid_message_never_evicted() -> None:
    p, _ = make(max_queue=2)
    g1, g2, g3 = msg("a", "g1", "gift"), msg("b", "s1", "superchat"), msg("c", "g3", "gift")
    p.offer(g1)
    p.offer(g2)
    assert p.offer(g3) == [g3]
    assert g3.reason is DropReason.FULL  # the newcomer is refused, accepted paid messages stay
    assert g1.state is g2.state is MessageState.QUEUED
    # a paid newcomer with a plain one waiting evicts the plain one, never a paid one
    p2, _ = make(max_queue=2)
    g, c, s = msg("a", "g1", "gift"), msg("b", "c1"), msg("c", "s1", "superchat")
    p2.offer(g)
    p2.offer(c)
    p2.offer(s)
    assert c.reason is DropReason.FULL and g.state is s.state is MessageState.QUEUED


def test_stale_messages_dropped_paid_exempt() -> None:
    p, clock = make(max_wait_s=30)
    old, paid = msg("a", "old"), msg("b", "tip", "superchat", 5)
    p.offer(old)
    p.offer(paid)
    clock.advance(20)
    fresh = msg("c", "fresh")
    p.offer(fresh)
    clock.advance(11)  # old and paid waited 31 s, fresh 11 s
    nxt, dropped = p.pop()
    assert dropped == [old] and old.reason is DropReason.STALE and "31" in old.detail
    assert nxt is paid  # exempt
    assert p.pop()[0] is fresh


def test_stale_paid_when_exemption_off() -> None:
    p, clock = make(max_wait_s=10, paid_exempt_stale=False)
    paid = msg("b", "tip", "gift", 5)
    p.offer(paid)
    clock.advance(10.5)
    assert p.pop() == (None, [paid]) and paid.reason is DropReason.STALE


def test_exactly_max_wait_is_not_stale() -> None:
    p, clock = make(max_wait_s=10)
    m = msg("a", "x")
    p.offer(m)
    clock.advance(10)
    assert p.pop() == (m, [])


def test_per_author_cooldown() -> None:
    p, clock = make(cooldown_s=5)
    a1 = msg("Ann", "first")
    p.offer(a1)
    clock.advance(2)
    a2 = msg("ann", "second")  # same author, any case
    assert p.offer(a2) == [a2] and a2.reason is DropReason.COOLDOWN and "2.0 s ago" in a2.detail
    b = msg("bob", "hello")
    assert p.offer(b)[0].state is MessageState.QUEUED  # other authors unaffected
    paid = msg("ann", "a gift", "gift", 10)
    assert p.offer(paid)[0].state is MessageState.QUEUED  # paid exempt
    clock.advance(5.1)
    a3 = msg("ann", "third")
    assert p.offer(a3)[0].state is MessageState.QUEUED


def test_one_viewer_cannot_fill_the_queue() -> None:
    """A mention outranks plain chat, so one viewer naming the channel every 2 s starved everyone else (a review
    simulation: 120 of theirs read, 0 of others'). At most max_per_viewer of a viewer's plain messages wait."""
    p, clock = make(cooldown_s=2, max_per_viewer=3, max_queue=10)
    spam = []
    for i in range(6):
        spam.append(msg("Spammer", f"@chan look {i}", "mention"))
        p.offer(spam[-1])
        clock.advance(2.1)
    assert [m.state for m in spam] == [MessageState.QUEUED] * 3 + [MessageState.DROPPED] * 3
    assert spam[3].reason is DropReason.COOLDOWN and "already has 3 messages waiting" in spam[3].detail
    others = [msg(f"viewer{i}", f"hello {i}") for i in range(7)]
    assert all(p.offer(m)[0].state is MessageState.QUEUED for m in others)  # room for everyone else
    assert p.offer(msg("spammer", "a gift", "gift", 5))[0].state is MessageState.QUEUED  # paid exempt
    assert [p.pop()[0].kind for _ in range(2)] == [MessageKind.GIFT, MessageKind.MENTION]
    # one of their mentions is read: the viewer may queue one more
    clock.advance(2.1)
    assert p.offer(msg("Spammer", "@chan again", "mention"))[0].state is MessageState.QUEUED


def test_refused_message_starts_no_cooldown() -> None:
    p, clock = make(cooldown_s=5, max_queue=1)
    p.offer(msg("x", "g", "gift"))
    refused = msg("ann", "hi")
    p.offer(refused)
    assert refused.reason is DropReason.FULL
    p.pop()
    again = msg("ann", "hi")
    assert p.offer(again)[0].state is MessageState.QUEUED


def test_duplicates_merged_within_window() -> None:
    p, clock = make(dedupe_window_s=10)
    first = msg("a", "GG!!")
    p.offer(first)
    clock.advance(3)
    dup = msg("b", "gg")
    changed = p.offer(dup)
    assert changed == [dup, first]
    assert dup.reason is DropReason.DUPLICATE and str(first.id) in dup.detail and first.duplicates == 1
    clock.advance(7.5)  # 10.5 s after the first
    later = msg("c", "gg")
    assert p.offer(later)[0].state is MessageState.QUEUED
    assert [m.text for m in p.waiting()] == ["GG!!", "gg"]


def test_no_merging_into_an_original_that_will_never_be_heard() -> None:
    """A repeat of a message the moderator rejected (or the streamer cleared, or that went stale or failed) is a
    message of its own: merged into the dropped one it would be lost too."""
    p, clock = make(dedupe_window_s=10)
    p.hold = True
    first = msg("a", "is the stream live?")
    p.offer(first)
    p.reject(first.id)
    clock.advance(2)
    again = msg("b", "Is the stream live")
    assert p.offer(again)[0].state is MessageState.HELD and first.duplicates == 0
    p.hold = False
    p.approve(again.id)
    clock.advance(1)
    third = msg("c", "is the stream live")
    assert p.offer(third) == [third, again] and third.reason is DropReason.DUPLICATE  # the live one merges
    assert again.duplicates == 1


def test_paid_messages_never_deduplicated() -> None:
    p, _ = make(dedupe_window_s=10)
    p.offer(msg("a", "thanks"))
    g = msg("b", "thanks", "gift", 1)
    assert p.offer(g)[0].state is MessageState.QUEUED


def test_dedupe_key() -> None:
    assert dedupe_key("GG!!") == dedupe_key("g g") == "gg"
    assert dedupe_key("哈哈。") == "哈哈"


def test_hold_mode_approve_reject() -> None:
    p, clock = make()
    p.hold = True
    a, b = msg("a", "one"), msg("b", "two")
    assert p.offer(a) == [a] and a.state is MessageState.HELD
    p.offer(b)
    assert p.waiting() == [] and p.held() == [a, b]
    assert p.pop() == (None, [])
    assert p.approve(a.id) == [a] and a.state is MessageState.QUEUED
    r = p.reject(b.id)
    assert r == [b] and b.reason is DropReason.REJECTED
    with pytest.raises(KeyError):
        p.approve(b.id)
    with pytest.raises(KeyError):
        p.reject(12345)
    assert p.pop()[0] is a


def test_hold_staleness_counts_from_approval() -> None:
    p, clock = make(max_wait_s=10)
    p.hold = True
    a = msg("a", "one")
    p.offer(a)
    clock.advance(60)  # the moderator took a minute
    p.approve(a.id)
    clock.advance(5)
    assert p.pop() == (a, [])


def test_hold_off_queues_everything_held_in_order() -> None:
    p, _ = make()
    p.set_hold(True)
    a, b = msg("a", "one"), msg("b", "two", "mention")
    p.offer(a)
    p.offer(b)
    changed = p.set_hold(False)
    assert changed == [a, b] and all(m.state is MessageState.QUEUED for m in changed)
    assert drain(p) == ["two", "one"]


def test_hold_list_is_capped() -> None:
    p, _ = make(max_queue=1)
    p.set_hold(True)
    a, b = msg("a", "one"), msg("b", "two")
    p.offer(a)
    p.offer(b)
    assert a.reason is DropReason.FULL and "hold list" in a.detail and p.held() == [b]


def test_clear_drops_queued_and_held_as_rejected() -> None:
    p, _ = make()
    a = msg("a", "one")
    p.offer(a)
    p.set_hold(True)
    b = msg("b", "two")
    p.offer(b)
    out = p.clear()
    assert set(map(id, out)) == {id(a), id(b)}
    assert all(m.reason is DropReason.REJECTED and "cleared" in m.detail for m in out)
    assert p.waiting() == [] and p.held() == [] and p.pop() == (None, [])


def test_restore_keeps_order_and_drops_stale_after_long_restart() -> None:
    clock = FakeClock(5000)
    p, _ = make(clock, max_wait_s=30)
    a = msg("a", "one")
    a.arrived_at = 4990  # waited 10 s before the restart
    b = msg("b", "two")
    b.arrived_at = 4900  # 100 s: stale now
    h = msg("c", "held")
    h.state = MessageState.HELD
    for m in (a, b, h):
        p.restore(m)
    nxt, dropped = p.pop()
    assert nxt is a and dropped == [b] and b.reason is DropReason.STALE
    assert p.held() == [h]


def test_every_message_ends_in_exactly_one_state() -> None:
    """A random mix through every path: each offered message is popped exactly once or dropped exactly once."""
    import random

    rng = random.Random(7)
    p, clock = make(max_queue=5, max_wait_s=8, cooldown_s=1, dedupe_window_s=3)
    offered: list[ChatMessage] = []
    popped: list[ChatMessage] = []
    for _ in range(400):
        clock.advance(rng.random())
        r = rng.random()
        if r < 0.6:
            kind = rng.choice(["chat"] * 6 + ["mention", "gift", "superchat", "member"])
            m = msg(f"u{rng.randrange(8)}", f"t{rng.randrange(30)}", kind)
            offered.append(m)
            p.offer(m)
        elif r < 0.9:
            m2, _ = p.pop()
            if m2 is not None:
                popped.append(m2)
        elif r < 0.95:
            p.set_hold(not p.hold)
        elif p.held():
            target = rng.choice(p.held())
            (p.approve if rng.random() < 0.5 else p.reject)(target.id)
    p.set_hold(False)
    popped.extend(iter(lambda: p.pop()[0], None))
    dropped = [m for m in offered if m.state is MessageState.DROPPED]
    assert len({id(m) for m in popped}) == len(popped)
    assert {id(m) for m in popped}.isdisjoint({id(m) for m in dropped})
    assert len(popped) + len(dropped) == len(offered)
    assert all(m.reason is not None for m in dropped)
    assert {m.reason for m in dropped} >= {DropReason.DUPLICATE, DropReason.COOLDOWN, DropReason.FULL}


def test_requeue_front_keeps_its_turn_and_its_staleness_clock() -> None:
    p, clock = make(max_wait_s=10)
    a, b = msg("a", "one"), msg("b", "two", "mention")
    p.offer(a)
    p.offer(b)
    first, _ = p.pop()
    assert first is b
    clock.advance(4)
    p.requeue_front(b)  # the runtime was busy: b goes back first in line, not behind a
    assert b.state is MessageState.QUEUED and p.waiting() == [b, a]
    clock.advance(6.5)  # b (and a) have now waited 10.5 s since they were queued
    nxt, dropped = p.pop()
    assert nxt is None and {m.text for m in dropped} == {"one", "two"}
    assert all(m.reason is DropReason.STALE for m in dropped)
