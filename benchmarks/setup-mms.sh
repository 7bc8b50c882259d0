#!/usr/bin/env bash
# A separate venv for MXNet Model Server 1.0.8 (it needs Java; 17 works), so that its
# old dependencies never touch the project's .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=benchmarks/.venv-mms
[ -x "$VENV/bin/python" ] || python3.11 -m venv "$VENV" 2>/dev/null || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q "mxnet-model-server==1.0.8" "model-archiver==1.0.3" \
  "mxnet==1.9.1" "numpy<1.24" pillow tflite httpx
# The handler reuses dlworkshop's decoding, so both servers do the same work per image.
"$VENV/bin/pip" install -q --no-deps -e .
command -v java >/dev/null || { echo "MMS needs Java (apt-get install openjdk-17-jre-headless)"; exit 1; }
echo "$VENV ready"
