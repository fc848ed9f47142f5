"""Optional local sound-device output for live chat (chat.sounddevice, off by default).

A player like the tab's and the overlay's: it follows the service's playout events and plays each segment's WAV
on a local device through the `sounddevice` package at the segment's start time, stops on skip/pause and goes on
from where it stopped on resume. The package (and PortAudio under it) is optional: when it or the configured
device is missing, the output reports that in the chat status and the rest of the studio carries on.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import soundfile as sf

log = logging.getLogger(__name__)

INSTALL_HINT = "install it with `.venv/bin/pip install sounddevice==0.5.6` (it needs the PortAudio library: " \
               "apt-get install libportaudio2), or set chat.sounddevice = false"


class SoundDeviceOutput:
    name = "sounddevice"

    def __init__(self, device: str = "") -> None:
        self.device_setting = device.strip()
        self._state, self._detail = "stopped", ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sd: Any = None
        self._device: Any = None

    def state(self) -> dict[str, Any]:
        return {"name": self.name, "state": self._state, "detail": self._detail}

    def _set(self, state: str, detail: str) -> None:
        self._state, self._detail = state, detail
        (log.warning if state == "error" else log.info)("sound device output: %s (%s)", state, detail)

    def open(self) -> bool:
        """Import sounddevice and find the device; False (with the reason in state()) when either is missing."""
        try:
            import sounddevice as sd
        except ImportError:
            self._set("error", f"the sounddevice package is not installed: {INSTALL_HINT}")
            return False
        except OSError as exc:  # the package is there but PortAudio is not
            self._set("error", f"sounddevice cannot load PortAudio ({exc}): {INSTALL_HINT}")
            return False
        device: Any = None
        if self.device_setting:
            device = int(self.device_setting) if self.device_setting.isdigit() else self.device_setting
            try:
                sd.query_devices(device, "output")
            except (ValueError, sd.PortAudioError) as exc:
                names = ", ".join(d["name"] for d in sd.query_devices() if d.get("max_output_channels", 0) > 0)
                self._set("error", f"no output device {self.device_setting!r} ({exc}); devices: {names or 'none'}")
                return False
        self._sd, self._device = sd, device
        return True

    def start(self, service: Any) -> None:
        if self._thread is not None or not self.open():
            return
        self._stop.clear()
        self._set("playing", f"on {self.device_setting or 'the default device'}")
        self._thread = threading.Thread(target=self._run, args=(service,), name="chat-sounddevice", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._sd is not None:
            self._sd.stop()
        self._set("stopped", "")

    def _run(self, service: Any) -> None:
        sd = self._sd
        after = service.last_seq  # start with what is announced from now on
        current: dict[str, Any] | None = None  # the segment being played: event, audio, offset, started
        while not self._stop.is_set():
            for ev in service.subscribe(after, 1.0):
                after = ev["seq"]
                if ev["type"] == "segment":
                    try:
                        audio, sr = sf.read(str(service.audio_path(ev["token"])), dtype="float32")
                    except (KeyError, OSError) as exc:
                        log.warning("sound device output: segment %s unavailable (%s)", ev["id"], exc)
                        continue
                    delay = ev["start_at"] - time.time()
                    if delay > 0 and self._stop.wait(delay):
                        return
                    sd.play(audio * service.volume(), sr, device=self._device)
                    current = {"ev": ev, "audio": audio, "sr": sr, "started": time.time(), "offset": 0}
                elif ev["type"] == "skip" and current and current["ev"]["id"] == ev["id"]:
                    sd.stop()
                    current = None
                elif ev["type"] == "state" and current:
                    if ev["paused"]:
                        sd.stop()
                        current["offset"] += int((time.time() - current["started"]) * current["sr"])
                    else:
                        rest = current["audio"][current["offset"]:]
                        if rest.size:
                            sd.play(rest * service.volume(), current["sr"], device=self._device)
                            current["started"] = time.time()
