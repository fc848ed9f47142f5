"""The server-side playout timeline of live chat: the single source of truth every player follows.

Segments are placed back to back on the server's clock: a segment starts at max(now + lead, previous end -
cross-fade), so players that schedule audio at `start_at` play message after message with no overlap beyond the
cross-fade and no gap. Pure: times are passed in, nothing sleeps.

Rules players rely on (C2's tab player, the OBS overlay, the optional sounddevice output):
- skip: the segment playing now ends at the skip time; the segments already announced after it move earlier
  by one same time, so the first starts at once and the rest follow it back to back as before;
- pause / resume: nothing plays while paused; on resume every announced segment moves later by the time spent
  paused (the playing one continues where it stopped).
"""

from __future__ import annotations

from dataclasses import dataclass

# Time a player gets between an announcement and the start of a segment on an idle timeline (fetching the WAV).
LEAD_S = 0.25


@dataclass
class Segment:
    message_id: int
    token: str
    start_at: float
    duration_s: float
    sample_rate: int
    author: str = ""
    text: str = ""
    skipped_at: float | None = None

    @property
    def end_at(self) -> float:
        return self.skipped_at if self.skipped_at is not None else self.start_at + self.duration_s


class Playout:
    def __init__(self, crossfade_s: float = 0.03, lead_s: float = LEAD_S) -> None:
        self.crossfade_s = max(0.0, crossfade_s)
        self.lead_s = lead_s
        self.segments: list[Segment] = []  # announced and not finished, in start order
        self.paused_at: float | None = None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    def end_of_timeline(self) -> float | None:
        return self.segments[-1].end_at if self.segments else None

    def remaining(self, now: float) -> float:
        """Seconds of announced audio still to play (0 when idle)."""
        end = self.end_of_timeline()
        if end is None:
            return 0.0
        if self.paused_at is not None:
            end += now - self.paused_at
        return max(0.0, end - now)

    def playing(self, now: float) -> Segment | None:
        for seg in self.segments:
            if seg.start_at <= now < seg.end_at:
                return seg
        return None

    def schedule(self, message_id: int, token: str, duration_s: float, sample_rate: int, now: float,
                 author: str = "", text: str = "") -> Segment:
        """Place a segment right after the timeline's end (or `lead_s` from now when idle)."""
        if self.paused:
            raise RuntimeError("the timeline is paused; resume before scheduling")
        start = now + self.lead_s
        end = self.end_of_timeline()
        if end is not None:
            # never overlap more than the cross-fade, never start in the past
            start = max(now, end - min(self.crossfade_s, duration_s / 2))
        seg = Segment(message_id, token, start, max(0.0, duration_s), sample_rate, author, text)
        self.segments.append(seg)
        return seg

    def finished(self, now: float) -> list[Segment]:
        """Remove and return segments whose end has passed (none while paused)."""
        if self.paused:
            return []
        done = [s for s in self.segments if s.end_at <= now]
        self.segments = [s for s in self.segments if s.end_at > now]
        return done

    def skip(self, now: float) -> Segment | None:
        """End the segment playing now (or the next announced one if none plays yet); later ones start at once.
        While paused the timeline stands at the pause: a skip then ends the segment where it stopped (with the
        real time, a skip later than the segment's natural end was clamped to it and did nothing, and resume
        played the rest of the message the players had already stopped)."""
        if self.paused_at is not None:
            now = self.paused_at
        target = self.playing(now) or (self.segments[0] if self.segments else None)
        if target is None:
            return None
        target.skipped_at = min(now, target.end_at)  # before its start when it had not begun: it never plays
        later = [seg for seg in self.segments if seg is not target and seg.start_at > now]
        if later:  # all of them move by the same time, keeping their spacing (no gap after the first)
            shift = later[0].start_at - now
            for seg in later:
                seg.start_at -= shift
        return target

    def pause(self, now: float) -> bool:
        if self.paused:
            return False
        self.paused_at = now
        return True

    def resume(self, now: float) -> float:
        """Resume; returns the seconds spent paused (every announced segment moved later by that much)."""
        if self.paused_at is None:
            return 0.0
        shift = max(0.0, now - self.paused_at)
        self.paused_at = None
        for seg in self.segments:
            seg.start_at += shift
            if seg.skipped_at is not None:
                seg.skipped_at += shift
        return shift
