#!/usr/bin/env bash
# The main job: set up (idempotent), then JupyterLab with the extension, serving examples/
# (or the folder given with --ServerApp.root_dir=DIR / --notebook-dir DIR).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
export PATH="$ROOT/.venv/bin:$PATH"
PORT="${MF_LAB_PORT:-8888}"
ARGS=(--no-browser --port "$PORT")
SERVING="examples/"
case " $* " in  # a folder given by the caller (--ServerApp.root_dir=X, --notebook-dir X) wins
  *" --ServerApp.root_dir"* | *" --notebook-dir"* | *" --NotebookApp.notebook_dir"*) SERVING="the folder given" ;;
  *) ARGS+=(--ServerApp.root_dir="$ROOT/examples") ;;
esac
[[ "$(id -u)" == 0 ]] && ARGS+=(--allow-root)
echo "[lab] JupyterLab with jupyter-metaflow on $SERVING; open the URL printed below"
exec jupyter lab "${ARGS[@]}" "$@"
