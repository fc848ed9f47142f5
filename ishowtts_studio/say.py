"""`python -m ishowtts_studio say`: speak a text in a voice of the library, without a server.

    python -m ishowtts_studio say "Hello there" --voice "Nature (English)" -o hello.wav [--nfe 16]
        [--engine f5|indextts] [--seed N] [--speed X] [--format mp3] [--config PATH] [--smoke]
    echo "Hello" | python -m ishowtts_studio say --voice nature -o - > hello.wav

Same settings (config.toml), same voice library, same engine path as the studio (a Studio, its runtime,
history marked origin="cli"). While the model loads, one progress line on stderr. The audio is written
to a temporary file beside the output and renamed into place when complete, so a failure leaves nothing
half-written. Exit codes (EXIT_CODES) say what went wrong.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from ishowtts_studio.encoding import FORMATS, SUFFIXES, StreamEncoder

log = logging.getLogger(__name__)

OK, INTERNAL, USAGE, BAD_INPUT, UNKNOWN_VOICE, ENGINE_UNAVAILABLE, SYNTHESIS_FAILED, CANNOT_WRITE = range(8)
EXIT_CODES = {
    OK: "the audio was written",
    INTERNAL: "an unexpected error (details on stderr)",
    USAGE: "bad command line or configuration (config.toml)",
    BAD_INPUT: "bad input: empty or too long text, NFE/seed/speed out of range, options that do not fit",
    UNKNOWN_VOICE: "no voice of that name or id in the library",
    ENGINE_UNAVAILABLE: "the engine cannot run (weights missing, IndexTTS not installed or configured)",
    SYNTHESIS_FAILED: "the engine failed on this text",
    CANNOT_WRITE: "the output file cannot be written",
}
DEFAULT_OUTPUT = "speech.wav"


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    p = parser or argparse.ArgumentParser(prog="python -m ishowtts_studio say")
    p.description = "Speak a text in a voice of the studio's library and write the audio to a file."
    p.epilog = "exit codes: " + "; ".join(f"{code} = {why}" for code, why in EXIT_CODES.items())
    p.add_argument("text", nargs="?", help="the text to speak; '-' or left out = read it from stdin")
    p.add_argument("--voice", "-v", required=True, help="a voice of the library, by name or id (slug)")
    p.add_argument("-o", "--output", default=DEFAULT_OUTPUT,
                   help=f"output file (default {DEFAULT_OUTPUT}); its suffix picks the format unless --format is "
                        "given; '-' = stdout")
    p.add_argument("--format", choices=list(FORMATS), help="audio format (default: from the output's suffix, else wav)")
    p.add_argument("--nfe", type=int, help="ODE steps (default: the studio's default NFE)")
    p.add_argument("--engine", default="f5", choices=["f5", "indextts"], help="default: f5")
    p.add_argument("--seed", type=int, help="random seed (default: random)")
    p.add_argument("--speed", type=float, help="speaking speed (default: engine.speed)")
    p.add_argument("--config", metavar="PATH",
                   help="settings file; default: $ISHOWTTS_CONFIG, else the studio's config.toml beside app.py "
                   "if present, else the built-in defaults")
    p.add_argument("--smoke", action="store_true", help="tiny random model (no weights needed; the audio is noise)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    return p


class _Progress:
    """One line on stderr while the engine loads: rewritten in place on a terminal, else printed on change."""

    def __init__(self, stream: IO[str], quiet: bool) -> None:
        self.stream, self.quiet = stream, quiet
        self.tty = stream.isatty()
        self.last = ""

    def show(self, text: str) -> None:
        if self.quiet or text == self.last:
            return
        self.last = text
        if self.tty:
            self.stream.write("\r\033[K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty and self.last and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()


def _fail(code: int, message: str) -> int:
    print(f"say: {message}", file=sys.stderr)
    return code


def _output_format(output: str, chosen: str | None) -> str:
    if chosen:
        return chosen
    if output == "-":
        return "wav"
    suffix = Path(output).suffix.lower().lstrip(".")
    if suffix not in SUFFIXES:
        raise ValueError(f"cannot tell the format from {output!r}: use a suffix of {', '.join(sorted(SUFFIXES))} "
                         "or --format")
    return SUFFIXES[suffix]


def _read_text(arg: str | None) -> str:
    if arg is not None and arg != "-":
        return arg
    if sys.stdin is None or sys.stdin.isatty():
        raise ValueError("no text: give it as an argument or pipe it in")
    return sys.stdin.read()


def run(args: argparse.Namespace, audio_out: IO[bytes]) -> int:
    from ishowtts_studio.settings import ConfigError, default_config_path, load_settings

    try:
        fmt = _output_format(args.output, args.format)
        text = _read_text(args.text)
    except ValueError as exc:
        return _fail(USAGE if "format" in str(exc) or "suffix" in str(exc) else BAD_INPUT, str(exc))
    config = default_config_path(args.config)
    try:
        # one request: a warm-up would only delay it
        settings = load_settings(config, smoke=args.smoke, overrides={"engine.warmup": False})
    except ConfigError as exc:
        return _fail(USAGE, f"configuration error: {exc}")

    from ishowtts_studio.api.adapter import SpeechAdapter
    from ishowtts_studio.dbfile import DatabaseUnusable
    from ishowtts_studio.studio import Studio

    try:
        studio = Studio(settings)
    except DatabaseUnusable as exc:  # damaged, too new or unreachable: the message says what to do
        return _fail(USAGE, str(exc))
    except OSError as exc:
        return _fail(USAGE, f"cannot set up the studio's folders: {exc}")
    try:
        return _speak(SpeechAdapter(studio), args, text, fmt, audio_out)
    finally:
        studio.close()


def _speak(adapter: Any, args: argparse.Namespace, text: str, fmt: str, audio_out: IO[bytes]) -> int:
    from ishowtts_studio.engines.base import EngineUnavailable
    from ishowtts_studio.runtime import BusyError, SynthesisError
    from ishowtts_studio.services.errors import USER_ERRORS

    # everything that can be refused without the model is refused before it loads
    if not text.strip():
        return _fail(BAD_INPUT, "the text is empty: give the words to speak")
    if len(text) > adapter.max_text_chars:
        return _fail(BAD_INPUT, f"the text is {len(text)} characters; at most {adapter.max_text_chars} "
                                "(engine.max_text_chars): split it")
    if adapter.find_voice(args.voice) is None:
        names = ", ".join(v.name for v in adapter.voices())
        return _fail(UNKNOWN_VOICE, f"no voice {args.voice!r} in the library; choose one of: {names}")
    if args.output != "-":
        folder = Path(args.output).expanduser().absolute().parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            return _fail(CANNOT_WRITE, f"cannot write {args.output}: its folder does not exist or is not writable")
        if Path(args.output).expanduser().is_dir():
            return _fail(CANNOT_WRITE, f"cannot write {args.output}: it is a folder; name a file in it")
    state = adapter.engine_state(args.engine)
    if args.engine != "f5" and (state is None or state.status == "unavailable"):
        return _fail(ENGINE_UNAVAILABLE, state.message if state else f"no engine {args.engine!r}")
    adapter.start_engine()
    progress = _Progress(sys.stderr, args.quiet)
    while not adapter.wait_ready(0.25):
        status, fraction, message = adapter.load_state()
        if status != "loading":
            break
        progress.show(f"Loading the engine… {fraction:.0%} — {message}")
    progress.done()
    status, _, message = adapter.load_state()
    if status != "ready" and args.engine == "f5":
        return _fail(ENGINE_UNAVAILABLE, message)
    try:
        live = adapter.start(text, args.voice, engine=args.engine, nfe=args.nfe, seed=args.seed, speed=args.speed,
                             origin="cli")
    except EngineUnavailable as exc:
        return _fail(ENGINE_UNAVAILABLE, str(exc))
    except BusyError as exc:
        return _fail(SYNTHESIS_FAILED, str(exc))
    except USER_ERRORS as exc:
        return _fail(BAD_INPUT, str(exc))
    try:
        written = _write(live, fmt, args.output, audio_out)
    except OSError as exc:
        live.cancel()
        return _fail(CANNOT_WRITE, f"cannot write {args.output}: {exc.strerror or exc}")
    except (SynthesisError, EngineUnavailable) as exc:
        return _fail(SYNTHESIS_FAILED if isinstance(exc, SynthesisError) else ENGINE_UNAVAILABLE, str(exc))
    outcome = live.finish(timeout=60)
    st = outcome.stats
    if not args.quiet:
        what = "IndexTTS" if st.get("engine") == "indextts" else f"NFE {st.get('nfe')}"
        print(f"Wrote {written}: {st.get('audio_s', 0):.2f} s of audio ({fmt}), {what}, seed {st.get('seed')}, "
              f"first audio {st.get('ttfa_s', 0):.2f} s, RTF {st.get('rtf', 0):.3f}"
              + (" — smoke mode: the audio is noise" if st.get("smoke") else ""), file=sys.stderr)
    return OK


def _write(live: Any, fmt: str, output: str, audio_out: IO[bytes]) -> str:
    """Encode the chunks as they come into a temporary file, then rename it into place (or copy to stdout)."""
    enc = StreamEncoder(fmt, live.sample_rate)
    if output == "-":
        for chunk in live:
            audio_out.write(enc.add(chunk))
        audio_out.write(enc.finish())
        audio_out.flush()
        return "stdout"
    target = Path(output).expanduser()
    if target.is_dir():
        raise IsADirectoryError(21, "it is a folder")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent if str(target.parent)
                               else ".")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # a normal file, not mkstemp's private 0600
    try:
        with os.fdopen(fd, "wb") as f:
            for chunk in live:
                f.write(enc.add(chunk))
            f.write(enc.finish())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        enc.close()
        Path(tmp).unlink(missing_ok=True)
        raise
    return str(target)


def main(argv: list[str] | None = None) -> int:
    return main_with(build_parser().parse_args(argv))


def main_with(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    started = time.perf_counter()
    audio_out = sys.stdout.buffer  # the audio's way out with `-o -`; everything else printed goes to stderr
    try:
        # f5-tts prints while it loads (from the engine's thread): keep stdout for the audio alone
        with contextlib.redirect_stdout(sys.stderr):
            return run(args, audio_out)
    except KeyboardInterrupt:
        return _fail(INTERNAL, "interrupted")
    except Exception as exc:  # the message, not a traceback; the log has it at debug level
        log.debug("say failed", exc_info=exc)
        return _fail(INTERNAL, f"unexpected error: {type(exc).__name__}: {exc}")
    finally:
        log.debug("say took %.1f s", time.perf_counter() - started)
