"""The streamer's controls: pause/resume/skip/clear, hold mode with approve/reject, replay, and the chat
settings kept as preferences (default voice, volume, NFE, per-viewer voices)."""

from __future__ import annotations

import math
from typing import Any

from ishowtts_studio.services.chat.core import ACTIONS, ChatCore, ChatInputError
from ishowtts_studio.services.chat.model import ChatMessage, DropReason
from ishowtts_studio.services.chat.policy import drop


class ChatControls:
    """Control actions and settings (part of ChatService)."""

    def __init__(self, core: ChatCore) -> None:
        self.core = core

    def control(self, action: str, message_id: int | None = None) -> dict[str, Any]:
        """pause | resume | skip | clear | approve | reject | replay | hold_on | hold_off.

        approve/reject/replay need message_id. Returns {"ok": True, "action", "id"?, ...} or raises ChatInputError."""
        act = str(action or "").strip().lower()
        if act not in ACTIONS:
            raise ChatInputError(f"Unknown action {action!r}: use one of {', '.join(ACTIONS)}.")
        needs_id = act in ("approve", "reject", "replay")
        if needs_id:
            if message_id is None or str(message_id).strip() == "":
                raise ChatInputError(f"{act} needs the id of a message (see the queue or history table).")
            try:
                mid = int(message_id)
            except (TypeError, ValueError):
                raise ChatInputError(f"A message id is a whole number, not {message_id!r}.") from None
        with self.core.lock:
            now = self.core.clock()
            out: dict[str, Any] = {"ok": True, "action": act}
            if act == "pause":
                if self.core.playout.pause(now):
                    self.core.paused = True
                    self.core.set_pref("paused", True)
                    self.core.emit({"type": "state", "paused": True})
            elif act == "resume":
                if self.core.playout.paused:
                    shift = self.core.playout.resume(now)
                    self.core.paused = False
                    self.core.set_pref("paused", False)
                    self.core.emit({"type": "state", "paused": False, "paused_s": round(shift, 3)})
            elif act == "skip":
                seg = self.core.playout.skip(now)
                out["id"] = seg.message_id if seg else None
                if seg is not None:
                    self.core.emit({"type": "skip", "id": seg.message_id})
            elif act == "clear":
                dropped = self.core.policy.clear()
                for m in self.core.pipeline:  # prefetched ones too: the streamer wants silence after what plays now
                    dropped.append(drop(m, DropReason.REJECTED, "the queue was cleared", now))
                    self.core.cancel_synthesis(m.id)
                    self.core.discard_audio(m.id)
                self.core.pipeline.clear()
                for m in dropped:
                    self.core.final(m)
                out["cleared"] = len(dropped)
            elif act in ("hold_on", "hold_off"):
                for m in self.core.policy.set_hold(act == "hold_on"):
                    self.core.db.save(m)
                    self.core.figures.final(m)
                self.core.set_pref("hold", act == "hold_on")
            elif act in ("approve", "reject"):
                try:
                    changed = (self.core.policy.approve if act == "approve" else self.core.policy.reject)(mid)
                except KeyError:
                    raise ChatInputError(f"Message {mid} is not waiting for approval.") from None
                for m in changed:
                    self.core.db.save(m)
                    self.core.figures.final(m)
                out["id"] = mid
            elif act == "replay":
                out.update(self._replay(mid))
            self.core.figures.depth.set(self.core.depth())
            self.core.wake.notify_all()
            return out

    def _replay(self, mid: int) -> dict[str, Any]:
        """Speak an earlier message again: a new row (platform "replay"), past filters and cooldowns, queued
        in its priority class."""
        old = self.core.db.get(mid)
        if old is None:
            raise ChatInputError(f"There is no message {mid}.")
        if not old.clean_text:
            raise ChatInputError(f"Message {mid} was never readable ({old.detail or old.reason}); nothing to replay.")
        again = ChatMessage(author=old.author, text=old.text, kind=old.kind, amount=old.amount, platform="replay",
                            arrived_at=self.core.clock(), clean_text=old.clean_text, detail=f"replay of message {mid}")
        again.spoken_text = self.core.spoken_text(again, None)
        self.core.db.add(again)
        self.core.policy.restore(again)  # no cooldown/dedupe: the streamer asked for it
        return {"id": again.id, "replay_of": mid}

    def set_default_voice(self, voice: str) -> None:
        """Voice for viewers without their own (must exist in the voice library; ChatInputError else)."""
        self.core.set_pref("default_voice", self._known_voice(voice))

    def _known_voice(self, voice: Any) -> str:
        name = str(voice or "").strip()
        names = list(self.core.voice_names())
        if name not in names:
            raise ChatInputError(f"There is no voice named {name!r}: pick one of {', '.join(names) or '(none yet)'}.")
        return name
    def set_volume(self, v: float) -> None:
        """Player volume 0..1 (players read it from status(); the sounddevice output applies it)."""
        try:
            vol = float(v)
        except (TypeError, ValueError):
            raise ChatInputError(f"Volume is a number from 0 to 1, not {v!r}.") from None
        if not (math.isfinite(vol) and 0.0 <= vol <= 1.0):
            raise ChatInputError("Volume is a number from 0 (silent) to 1 (full).")
        self.core.set_pref("volume", vol)
    def set_nfe(self, nfe: int | None) -> None:
        """NFE for chat lines (1..64); None or 0 = the studio's adopted default."""
        if nfe is None or nfe == "" or nfe == 0:
            self.core.set_pref("nfe", 0)
            return
        try:
            value = int(nfe)
        except (TypeError, ValueError):
            raise ChatInputError(f"NFE is a whole number from 1 to 64, not {nfe!r}.") from None
        if value != float(nfe) or not 1 <= value <= 64:
            raise ChatInputError("NFE is a whole number from 1 to 64 (or empty for the studio's default).")
        self.core.set_pref("nfe", value)

    def voice_renamed(self, old: str, new: str) -> None:
        """A voice was renamed in the library: the default voice and viewers' voices chosen by its old name follow
        it (they are kept by name, as the streamer typed them)."""
        with self.core.lock:
            if self.core.pref("default_voice", None) == old:
                self.core.set_pref("default_voice", new)
            self.core.db.rename_viewer_voice(old, new)

    def viewer_voices(self) -> dict[str, str]:
        """author -> voice name, as stored."""
        return self.core.db.viewer_voices()

    def set_viewer_voice(self, author: str, voice: str | None) -> None:
        """Give a viewer a sticky voice (None or "" removes it: the viewer gets the default)."""
        who = " ".join(str(author or "").split())
        if not who:
            raise ChatInputError("Give the viewer's name.")
        self.core.db.set_viewer_voice(who, self._known_voice(voice) if voice else None)
