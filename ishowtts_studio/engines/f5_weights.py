"""Where the F5-TTS weights are: checkpoint, vocabulary and vocoder checked together, before any download.

Every file is looked for first on disk (a local path, or the Hugging Face cache for an `hf://` id). Only
when some are missing and offline mode is off does the Hub get asked, once and without retries, whether it
can be reached; if it cannot (or `HF_HUB_OFFLINE=1`), one message names every missing file with the
`hf download` line that fetches it. Before this, a start without weights spent half a minute in silent
retries and named only the first missing file; the next start revealed the next one.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ishowtts_studio.engines.base import EngineUnavailable

log = logging.getLogger(__name__)

VOCODER_FILES = ("config.yaml", "pytorch_model.bin")
PROBE_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class WeightFile:
    """One file the engine needs: what it is, the config key that names it, and where it comes from."""

    what: str  # "checkpoint", "vocabulary", "vocoder config", "vocoder weights"
    config_key: str
    spec: str  # a local path or hf://owner/repo/path
    repo: str | None  # owner/repo for an hf:// id
    filename: str  # path inside the repo, or the local path

    @property
    def fetch_line(self) -> str:
        if self.repo:
            return f"hf download {self.repo} {self.filename}"
        return f"put the file at {self.filename}"


@dataclass(frozen=True)
class WeightPaths:
    checkpoint: Path
    vocab: Path
    vocoder_dir: Path


def _file(spec: str, what: str, key: str) -> WeightFile:
    if spec.startswith("hf://"):
        owner, repo, *rest = spec[len("hf://"):].strip("/").split("/")
        return WeightFile(what, key, spec, f"{owner}/{repo}", "/".join(rest))
    return WeightFile(what, key, spec, None, str(Path(spec).expanduser()))


def needed_files(checkpoint: str, vocab: str, vocoder: str) -> list[WeightFile]:
    """The four files of one configuration (the vocoder is a folder or repo holding two)."""
    files = [_file(checkpoint, "checkpoint", "f5.checkpoint"), _file(vocab, "vocabulary", "f5.vocab")]
    for name, what in zip(VOCODER_FILES, ("vocoder config", "vocoder weights")):
        if vocoder.startswith("hf://"):
            files.append(_file(f"{vocoder.rstrip('/')}/{name}", what, "f5.vocoder"))
        else:
            files.append(WeightFile(what, "f5.vocoder", vocoder, None, str(Path(vocoder).expanduser() / name)))
    return files


def hub_offline() -> bool:
    """HF_HUB_OFFLINE as huggingface_hub reads it (1/true/yes/on), at call time."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _hub_cache() -> str | None:
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]) / "hub")
    return None  # huggingface_hub's own default


def find_local(f: WeightFile) -> Path | None:
    """The file on disk (the given path, or the Hugging Face cache), without any network access."""
    if f.repo is None:
        path = Path(f.filename)
        return path if path.is_file() else None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(f.repo, f.filename, cache_dir=_hub_cache())
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def hub_reachable(f: WeightFile) -> str | None:
    """None when the Hub answers for `f` (one request, no retries), else why not, in words."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url

    try:
        get_hf_file_metadata(hf_hub_url(f.repo or "", f.filename), timeout=PROBE_TIMEOUT_S)
    except Exception as exc:  # connection refused, DNS failure, timeout, 401/404: all mean "cannot fetch it now"
        log.debug("Hub probe for %s failed", f.spec, exc_info=exc)
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403, 404):
            return f"the Hugging Face Hub has no file {f.filename} in {f.repo} (HTTP {status}); check {f.config_key}"
        return "the Hugging Face Hub could not be reached (no network connection)"
    return None


def missing_message(missing: list[WeightFile], why: str) -> str:
    lines = [f"F5-TTS cannot start: {len(missing)} weight file{'s are' if len(missing) > 1 else ' is'} missing, and "
             f"{why}. Synthesis with F5-TTS stays off until they are in place."]
    for f in missing:
        where = f"{f.repo}/{f.filename}" if f.repo else f.filename
        lines.append(f"- {f.what} ({f.config_key}): {where} — `{f.fetch_line}`")
    lines.append("Run the `hf download` lines on a machine with internet access and copy the Hugging Face cache "
                 "(~/.cache/huggingface) here, or point f5.checkpoint, f5.vocab and f5.vocoder in config.toml at "
                 "the downloaded files. HF_HUB_OFFLINE=1 makes the studio use only files already on this machine "
                 "without trying the network. To try the studio without weights, start it with `--smoke` (a tiny "
                 "random model; the audio is noise).")
    return "\n".join(lines)


def locate_weights(checkpoint: str, vocab: str, vocoder: str) -> WeightPaths:
    """Paths of the checkpoint, vocabulary and vocoder folder, downloading missing hf:// files when the Hub can
    be reached; otherwise EngineUnavailable naming every missing file and how to get it."""
    files = needed_files(checkpoint, vocab, vocoder)
    found = {f: find_local(f) for f in files}
    missing = [f for f in files if found[f] is None]
    if missing:
        local = [f for f in missing if f.repo is None]
        if local:
            raise EngineUnavailable(missing_message(missing, "no file is at the configured path"))
        if hub_offline():
            raise EngineUnavailable(missing_message(missing, "HF_HUB_OFFLINE=1 is set, so nothing is downloaded"))
        why = hub_reachable(missing[0])
        if why:
            raise EngineUnavailable(missing_message(missing, why))
        from huggingface_hub import hf_hub_download

        for f in missing:
            log.info("downloading %s from the Hugging Face Hub", f.spec)
            try:
                found[f] = Path(hf_hub_download(repo_id=f.repo or "", filename=f.filename, cache_dir=_hub_cache()))
            except Exception as exc:
                log.error("downloading %s failed", f.spec, exc_info=exc)
                rest = [m for m in missing if found[m] is None]
                raise EngineUnavailable(missing_message(
                    rest, f"downloading {f.filename} failed part way (the studio log has the details)")) from exc
    ckpt, voc, cfg, _ = (found[f] for f in files)
    assert ckpt is not None and voc is not None and cfg is not None
    return WeightPaths(checkpoint=ckpt, vocab=voc, vocoder_dir=cfg.parent)
