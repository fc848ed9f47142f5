#!/usr/bin/env bash
# One-command install for a fresh Debian/Ubuntu machine: system packages, a virtualenv in .venv,
# the pinned Python packages. Safe to run again.
# Usage: bash install.sh [--with-indextts] [--with-ray]
#   --with-indextts  also build .venv-indextts, the separate environment of the optional IndexTTS engine
#                    (its pins clash with Gradio's; docs/architecture.md says why it is a worker process)
#   --with-ray       also install Ray Serve into .venv (requirements-ray.txt): engine replicas on a Ray
#                    cluster, python -m ishowtts_studio.serve (docs/scaling.md)
# The studio needs Python 3.11 or newer: PYTHON=python3.11 bash install.sh picks the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")"
WITH_INDEXTTS=0
WITH_RAY=0
for arg in "$@"; do
  case "$arg" in
    --with-indextts) WITH_INDEXTTS=1 ;;
    --with-ray) WITH_RAY=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
for pkg in python3-venv ffmpeg espeak-ng sox chromium; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}"
fi
PY=${PYTHON:-python3}
# tomllib, enum.StrEnum and the pins (numpy 2.4, ...) need 3.11+: say so before building a venv that cannot work
py_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo "not found"; }
py_new_enough() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }
if [ ! -x .venv/bin/python ] || { [ "$WITH_INDEXTTS" -eq 1 ] && [ ! -x .venv-indextts/bin/python ]; }; then
  if ! py_new_enough "$PY"; then
    echo "install.sh: the studio needs Python 3.11 or newer; $PY is $(py_version "$PY")." >&2
    echo "  Install Python 3.11 (on Ubuntu 22.04 / JetPack 6: sudo add-apt-repository ppa:deadsnakes/ppa &&" >&2
    echo "  sudo apt install python3.11 python3.11-venv) and run: PYTHON=python3.11 bash install.sh" >&2
    exit 1
  fi
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
elif ! py_new_enough .venv/bin/python; then
  echo "install.sh: .venv has Python $(py_version .venv/bin/python); the studio needs 3.11 or newer." >&2
  echo "  Remove it (rm -rf .venv) and run again, with PYTHON=python3.11 where python3 is older." >&2
  exit 1
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements-dev.txt
if [ "$WITH_RAY" -eq 1 ]; then
  .venv/bin/python -m pip install -q -r requirements-ray.txt
  echo "Ray Serve installed; python -m ishowtts_studio.serve deploys the engine replicas (docs/scaling.md)."
fi
if [ "$WITH_INDEXTTS" -eq 1 ]; then
  [ -x .venv-indextts/bin/python ] || "$PY" -m venv .venv-indextts
  .venv-indextts/bin/python -m pip install -q --upgrade pip
  .venv-indextts/bin/python -m pip install -q -r requirements-indextts.txt
  echo "IndexTTS extra installed in .venv-indextts; set indextts.model_dir in config.toml to use it."
fi
echo "Installed. Start the studio with: .venv/bin/python app.py --smoke   (or without --smoke once weights are set up)"
