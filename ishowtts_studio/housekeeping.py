"""Clean-up at start: what a crash can leave behind in the cache folder.

`Studio.add_voice` and `import_voice` build a voice in a `voice-add-*` / `voice-import-*` temporary folder
before moving it into the library; a crash (SIGKILL, power loss) in between leaves the folder and its partial
WAV. Nothing refers to them, so the next start removes them.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

LEFTOVER_PATTERNS = ("voice-add-*", "voice-import-*")


def remove_leftovers(cache: Path) -> list[str]:
    """Remove the temporary voice folders a crash left in `cache`; returns their names."""
    removed = []
    for pattern in LEFTOVER_PATTERNS:
        for folder in Path(cache).glob(pattern):
            if folder.is_dir() and not folder.is_symlink():
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
    if removed:
        log.info("removed %d temporary folder(s) left by an interrupted voice add/import", len(removed))
    return removed
