#!/usr/bin/env bash
# The main job: set up (idempotent), then JupyterLab with the extension, serving examples/.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
export PATH="$ROOT/.venv/bin:$PATH"
PORT="${MF_LAB_PORT:-8888}"
ARGS=(--no-browser --port "$PORT" --ServerApp.root_dir="$ROOT/examples")
[[ "$(id -u)" == 0 ]] && ARGS+=(--allow-root)
echo "[lab] JupyterLab with jupyter-metaflow on examples/; open the URL printed below"
exec jupyter lab "${ARGS[@]}" "$@"
