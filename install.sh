#!/usr/bin/env bash
# One-command install for a fresh Debian/Ubuntu machine: system packages, a virtualenv in .venv,
# the pinned Python packages. Safe to run again. Usage: bash install.sh
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
for pkg in ffmpeg espeak-ng sox chromium; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}"
fi
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements-dev.txt
echo "Installed. Start the studio with: .venv/bin/python app.py --smoke   (or without --smoke once weights are set up)"
