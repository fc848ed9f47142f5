"""`python -m ishowtts_studio say` as a user runs it: a subprocess on the smoke model; its files, stdout, exit codes."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from ishowtts_studio import say
from ishowtts_studio.store import Store
from tests.helpers import REPO, write_config

EN = "Nature (English)"


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("say")
    write_config(folder, 7860)  # every path inside `folder`; the port is not used
    return folder


def run_say(folder: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO))
    env.pop("ISHOWTTS_API_KEY", None)
    return subprocess.run([sys.executable, "-m", "ishowtts_studio", "say", "--smoke", "--config",
                           str(folder / "config.toml"), *args], cwd=folder, env=env, input=stdin,
                          capture_output=True, timeout=600)


def test_say_writes_a_file_in_the_format_of_its_suffix(folder):
    out = folder / "hello.flac"
    text = "Hello from the command line. This is the second sentence."
    proc = run_say(folder, text, "--voice", EN, "-o", str(out), "--nfe", "6", "--seed", "42")
    assert proc.returncode == say.OK, proc.stderr.decode()
    err = proc.stderr.decode()
    assert "Loading the engine" in err  # the progress line while the model loads
    assert f"Wrote {out}" in err and "NFE 6" in err and "seed 42" in err
    assert proc.stdout == b""  # nothing but audio ever goes to stdout
    with av.open(str(out)) as c:
        stream = c.streams.audio[0]
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(stream)])
        assert stream.codec_context.name == "flac" and stream.codec_context.sample_rate == 24_000
    assert out.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert not list(folder.glob(".hello.flac.*"))  # no temporary file left behind
    with Store(folder / "samples" / "studio.db") as store:
        rec = store.list_syntheses(limit=1)[0]
    assert rec.text == text and rec.origin == "cli" and rec.nfe == 6 and rec.seed == 42
    assert len(samples) / 24_000 == pytest.approx(rec.audio_seconds, abs=0.01)


def test_say_reads_stdin_and_writes_wav_to_stdout(folder):
    proc = run_say(folder, "--voice", "nature-english", "-o", "-", "--nfe", "4", "-q",
                   stdin=b"Text from standard input.")
    assert proc.returncode == say.OK, proc.stderr.decode()
    audio, rate = sf.read(io.BytesIO(proc.stdout))
    assert rate == 24_000 and audio.size > rate // 2 and np.sqrt(np.mean(audio ** 2)) > 1e-3
    assert b"Loading" not in proc.stderr  # -q


@pytest.mark.parametrize(("args", "code", "needle"), [
    (["Hello.", "--voice", "nobody"], say.UNKNOWN_VOICE, "no voice 'nobody'"),
    (["   ", "--voice", EN], say.BAD_INPUT, "the text is empty"),
    (["Hello.", "--voice", EN, "-o", "out.xyz"], say.USAGE, "cannot tell the format"),
    (["Hello.", "--voice", EN, "-o", "missing-folder/out.wav"], say.CANNOT_WRITE, "cannot write"),
    (["Hello.", "--voice", EN, "-o", ".", "--format", "wav"], say.CANNOT_WRITE, "it is a folder"),
    (["Hello.", "--voice", EN, "--engine", "indextts"], say.ENGINE_UNAVAILABLE, "indextts.model_dir"),
    (["Hello.", "--voice", EN, "--nfe", "99", "-o", "bad.wav"], say.BAD_INPUT, "NFE 99 is out of range"),
])
def test_say_exit_codes_say_what_went_wrong(folder, args, code, needle):
    proc = run_say(folder, *args)
    err = proc.stderr.decode()
    assert proc.returncode == code, err
    assert needle in err and "Traceback" not in err
    assert not (folder / "bad.wav").exists()  # a refused request writes nothing


def test_say_bad_config_is_a_usage_error(tmp_path):
    (tmp_path / "config.toml").write_text("[engine]\ndefault_nfe = 500\n")
    proc = run_say(tmp_path, "Hello.", "--voice", EN)
    assert proc.returncode == say.USAGE
    assert "engine.default_nfe = 500 is out of range" in proc.stderr.decode()


def test_exit_codes_are_documented_in_the_help_and_readme():
    help_text = say.build_parser().format_help()
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for code, meaning in say.EXIT_CODES.items():
        assert f"{code} = {meaning}" in " ".join(help_text.split())
        assert f"| {code} |" in readme, f"README does not document exit code {code}"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
