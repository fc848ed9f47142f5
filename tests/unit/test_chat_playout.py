"""The chat playout timeline (pure): back to back with the cross-fade, skip, pause/resume."""

from __future__ import annotations

import pytest

from ishowtts_studio.services.chat.playout import Playout


def test_idle_timeline_starts_after_the_lead() -> None:
    p = Playout(crossfade_s=0.05, lead_s=0.25)
    seg = p.schedule(1, "t1", 2.0, 24000, now=100.0)
    assert seg.start_at == pytest.approx(100.25) and seg.end_at == pytest.approx(102.25)
    assert p.playing(100.1) is None and p.playing(101.0) is seg


def test_back_to_back_overlap_is_the_crossfade_only() -> None:
    p = Playout(crossfade_s=0.05)
    a = p.schedule(1, "a", 2.0, 24000, now=100.0)
    b = p.schedule(2, "b", 1.0, 24000, now=101.0)  # announced while a plays
    c = p.schedule(3, "c", 0.06, 24000, now=101.1)  # a very short one: overlap at most half its length
    assert b.start_at == pytest.approx(a.end_at - 0.05)  # no gap, overlap = cross-fade
    assert c.start_at == pytest.approx(b.end_at - 0.03)
    assert p.remaining(101.1) == pytest.approx(c.end_at - 101.1)


def test_late_segment_never_starts_in_the_past() -> None:
    p = Playout(crossfade_s=0.05)
    a = p.schedule(1, "a", 1.0, 24000, now=100.0)
    assert p.finished(a.end_at + 5) == [a]
    b = p.schedule(2, "b", 1.0, 24000, now=a.end_at + 5)
    assert b.start_at == pytest.approx(a.end_at + 5 + p.lead_s)


def test_finished_in_order() -> None:
    p = Playout(crossfade_s=0.0)
    a = p.schedule(1, "a", 1.0, 24000, now=0.0)
    b = p.schedule(2, "b", 1.0, 24000, now=0.0)
    assert p.finished(a.end_at - 0.01) == []
    assert p.finished(a.end_at) == [a]
    assert p.finished(b.end_at + 1) == [b] and p.segments == []


def test_skip_ends_the_current_and_pulls_the_next_forward() -> None:
    p = Playout(crossfade_s=0.0)
    a = p.schedule(1, "a", 4.0, 24000, now=0.0)
    b = p.schedule(2, "b", 2.0, 24000, now=3.0)
    now = a.start_at + 1.0
    assert p.skip(now) is a
    assert a.end_at == pytest.approx(now) and b.start_at == pytest.approx(now)
    assert p.finished(now) == [a]
    assert p.playing(now + 0.5) is b


def test_skip_moves_every_announced_segment_keeping_them_back_to_back() -> None:
    """Short lines: three announced behind the playing one. Only the first used to move, leaving a gap of the
    skipped remainder before the second."""
    p = Playout(crossfade_s=0.03)
    a = p.schedule(1, "a", 4.0, 24000, now=0.0)
    b = p.schedule(2, "b", 0.5, 24000, now=3.0)
    c = p.schedule(3, "c", 0.5, 24000, now=3.0)
    d = p.schedule(4, "d", 0.5, 24000, now=3.0)
    gaps = [c.start_at - b.end_at, d.start_at - c.end_at]
    now = a.start_at + 1.0
    assert p.skip(now) is a
    assert b.start_at == pytest.approx(now)
    assert [c.start_at - b.end_at, d.start_at - c.end_at] == pytest.approx(gaps)  # still the cross-fade only
    assert p.remaining(now) == pytest.approx(d.end_at - now) and d.end_at == pytest.approx(now + 1.5 - 0.06)


def test_skip_of_an_announced_not_yet_playing_segment() -> None:
    p = Playout()
    a = p.schedule(1, "a", 2.0, 24000, now=10.0)  # starts at 10.25
    assert p.skip(10.1) is a and a.end_at == pytest.approx(10.1)
    assert p.finished(10.1) == [a]
    assert p.skip(10.2) is None  # nothing left


def test_pause_resume_shifts_everything_announced() -> None:
    p = Playout(crossfade_s=0.0)
    a = p.schedule(1, "a", 2.0, 24000, now=0.0)
    b = p.schedule(2, "b", 2.0, 24000, now=0.0)
    assert p.pause(1.0) and not p.pause(1.5)
    assert p.finished(100.0) == []  # nothing ends while paused
    with pytest.raises(RuntimeError, match="paused"):
        p.schedule(3, "c", 1.0, 24000, now=2.0)
    assert p.remaining(5.0) == pytest.approx(b.end_at - 1.0)  # frozen at the pause
    shift = p.resume(5.0)
    assert shift == pytest.approx(4.0)
    assert a.start_at == pytest.approx(4.25) and b.start_at == pytest.approx(6.25)
    assert p.resume(6.0) == 0.0


def test_skip_while_paused_ends_the_segment_where_it_stopped() -> None:
    """A skip during a pause used the real time: one after the segment's natural end was clamped to that end and
    did nothing, and on resume the server played on the message the players had already stopped."""
    p = Playout(crossfade_s=0.0)
    a = p.schedule(1, "a", 11.0, 24000, now=0.0)  # 0.25 .. 11.25
    b = p.schedule(2, "b", 2.0, 24000, now=0.0)   # 11.25 .. 13.25
    p.pause(0.75)  # half a second into a
    assert p.skip(20.0) is a  # long after a would have ended on the wall clock
    assert a.end_at == pytest.approx(0.75)
    assert b.start_at == pytest.approx(0.75)  # the next one starts at once (at the pause point)
    assert p.resume(30.0) == pytest.approx(29.25)
    assert p.finished(30.0) == [a]  # a is over: nothing of it plays after the resume
    assert p.playing(30.5) is b and b.start_at == pytest.approx(30.0)

