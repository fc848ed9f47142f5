"""Live-chat figures: the tab's numbers (rates, delays, drops, backlog) and the Prometheus series behind /metrics.

Not thread-safe on its own: the chat service calls it under its lock.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter
from prometheus_client import Gauge as PromGauge
from prometheus_client import Histogram as PromHistogram

from ishowtts_studio.services.chat.model import ChatMessage, MessageState

FIRST_AUDIO_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300)
DEFAULT_SPEECH_S = 3.0  # expected length of one message before any has been spoken (backlog estimate)
WINDOW = 200  # delays: percentiles over the last WINDOW messages
LENGTHS = 20  # the backlog estimate uses the mean length of the last LENGTHS segments


def _percentile(values: deque[float], q: float) -> float | None:
    return round(float(np.percentile(list(values), q)), 3) if values else None


class ChatFigures:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        registry = registry if registry is not None else CollectorRegistry()
        self.received = PromCounter("ishowtts_chat_messages", "Chat messages received, by kind.", ["kind"],
                                    registry=registry)
        self.dropped = PromCounter("ishowtts_chat_dropped", "Chat messages dropped, by reason.", ["reason"],
                                   registry=registry)
        self.spoken_total = PromCounter("ishowtts_chat_spoken", "Chat messages spoken.", registry=registry)
        self.failed_total = PromCounter("ishowtts_chat_failed", "Chat messages whose synthesis failed.",
                                        registry=registry)
        self.depth = PromGauge("ishowtts_chat_queue_depth", "Chat messages waiting to be spoken.", registry=registry)
        self.first_audio_hist = PromHistogram(
            "ishowtts_chat_first_audio_seconds", "Arrival of a chat message to its first audio.",
            buckets=FIRST_AUDIO_BUCKETS, registry=registry)
        self.speech_start_hist = PromHistogram(
            "ishowtts_chat_speech_start_seconds", "Arrival of a chat message to the start of its speech.",
            buckets=FIRST_AUDIO_BUCKETS, registry=registry)
        self._arrivals: deque[float] = deque()  # arrival times in the last minute (messages per minute)
        self._first_audio: deque[float] = deque(maxlen=WINDOW)
        self._speech_start: deque[float] = deque(maxlen=WINDOW)
        self._durations: deque[float] = deque(maxlen=LENGTHS)
        self._drops: Counter[str] = Counter()
        self._spoken = self._failed = 0

    # ---- recording ---------------------------------------------------------------------------------
    def arrived(self, msg: ChatMessage) -> None:
        self._arrivals.append(msg.arrived_at)
        self._forget_old(msg.arrived_at)
        self.received.labels(str(msg.kind)).inc()

    def final(self, msg: ChatMessage) -> None:
        """Count a message that reached a final state (other states are ignored)."""
        if msg.state is MessageState.DROPPED and msg.reason is not None:
            self._drops[str(msg.reason)] += 1
            self.dropped.labels(str(msg.reason)).inc()
        elif msg.state is MessageState.FAILED:
            self._failed += 1
            self.failed_total.inc()
        elif msg.state is MessageState.SPOKEN:
            self._spoken += 1
            self.spoken_total.inc()

    def first_audio(self, seconds: float) -> None:
        self._first_audio.append(seconds)
        self.first_audio_hist.observe(max(0.0, seconds))

    def speech_start(self, seconds: float, duration_s: float) -> None:
        self._speech_start.append(seconds)
        self._durations.append(duration_s)
        self.speech_start_hist.observe(max(0.0, seconds))

    def _forget_old(self, now: float) -> None:
        while self._arrivals and now - self._arrivals[0] > 60:
            self._arrivals.popleft()

    # ---- reading -----------------------------------------------------------------------------------
    def expected_wait_s(self, announced_left_s: float, depth: int) -> float:
        """Seconds the newest message would wait: the announced audio left plus the queue at the mean length."""
        per = float(np.mean(self._durations)) if self._durations else DEFAULT_SPEECH_S
        return announced_left_s + depth * per

    def snapshot(self, now: float, depth: int, held: int, announced_left_s: float, max_wait_s: float) -> dict[str, Any]:
        self._forget_old(now)
        self.depth.set(depth)
        wait = self.expected_wait_s(announced_left_s, depth)
        warning = None
        if depth and wait > max_wait_s:
            warning = (f"Backlog: about {wait:.0f} s of chat is waiting, more than max_wait_s ({max_wait_s:g} s); "
                       "plain messages will be dropped as stale. Raise the chat rate limits (cooldown_s) or turn on "
                       "hold mode.")
        return {
            "per_minute": len(self._arrivals), "depth": depth, "held": held,
            "first_audio_p50_s": _percentile(self._first_audio, 50),
            "first_audio_p95_s": _percentile(self._first_audio, 95),
            "speech_start_p50_s": _percentile(self._speech_start, 50),
            "speech_start_p95_s": _percentile(self._speech_start, 95),
            "drops": dict(self._drops), "spoken": self._spoken, "failed": self._failed,
            "backlog_warning": warning,
        }
