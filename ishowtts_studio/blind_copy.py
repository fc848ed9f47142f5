"""Copies of NFE renders for the blind A/B vote that give nothing away before the vote.

A reviewer trying to cheat sees only what the page can fetch: the bytes, their hash, the file's size and the web
server's Last-Modified and ETag (both taken from the file's date). A link to the render kept its date (renders are
made reference first, then candidates in NFE order) and its bytes (whose hash named the render in every later trial
once one vote had revealed it). A blind copy has its own bytes and one fixed date.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import soundfile as sf

# Every blind copy carries this time (2000-01-01): a copy's own time, or a link's (the render's), reaches a page as
# Last-Modified and inside the ETag, and the order renders were made in gave their NFEs away.
BLIND_MTIME = 946_684_800.0


def write_blind_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                     rng: np.random.Generator | None = None) -> Path:
    """A copy of a clip for a blind comparison that tells nothing about which render it came from: 16-bit PCM with
    its own triangular dither of one step (so no two copies of a render share their bytes or a hash, and a clip
    revealed after one vote is not recognised by its hash in the next trial; the noise is at -96 dBFS, far below
    hearing, and both sides of a trial get the same treatment), dated BLIND_MTIME."""
    x, sr = sf.read(str(src), dtype="float64", always_2d=False)
    rng = rng if rng is not None else np.random.default_rng()
    step = 1.0 / 32768
    dithered = x + (rng.random(x.shape) - rng.random(x.shape)) * step
    target = Path(dst)
    sf.write(str(target), np.clip(dithered, -1.0, 1.0 - step), sr, format="WAV", subtype="PCM_16")
    os.utime(target, (BLIND_MTIME, BLIND_MTIME))
    return target

