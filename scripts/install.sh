#!/usr/bin/env bash
# Install pixl and everything its demo and tests use, from nothing: Python packages from
# PyPI and, where apt-get is available (root), DCMTK and Orthanc from Debian. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

"$PYTHON" -m pip install --quiet --disable-pip-version-check -e ".[test,dev]"

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  missing=()
  for pkg in dcmtk orthanc orthanc-dicomweb orthanc-python; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
echo "pixl installed ($("$PYTHON" -c 'import pixl; print(pixl.__version__)'))"
