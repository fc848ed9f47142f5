"""The framing between the studio and its IndexTTS worker process (standard library only).

A message is a 4-byte big-endian length, a UTF-8 JSON header of that length, then `header["nbytes"]`
raw bytes (float32 audio). JSON and raw bytes, not pickle: the two sides run different numpy versions.
"""

from __future__ import annotations

import json
import struct
from typing import Any, BinaryIO

_LEN = struct.Struct(">I")
MAX_HEADER = 16 * 1024 * 1024


class WorkerGone(EOFError):
    """The other side closed the pipe (the worker exited or was killed)."""


def send(stream: BinaryIO, header: dict[str, Any], payload: bytes = b"") -> None:
    body = json.dumps(dict(header, nbytes=len(payload))).encode("utf-8")
    stream.write(_LEN.pack(len(body)) + body + payload)
    stream.flush()


def _read_exact(stream: BinaryIO, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise WorkerGone("the pipe closed")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def recv(stream: BinaryIO) -> tuple[dict[str, Any], bytes]:
    (size,) = _LEN.unpack(_read_exact(stream, _LEN.size))
    if size > MAX_HEADER:
        raise ValueError(f"message header of {size} bytes is too large")
    header = json.loads(_read_exact(stream, size).decode("utf-8"))
    payload = _read_exact(stream, int(header.get("nbytes", 0)))
    return header, payload
