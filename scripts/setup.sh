#!/usr/bin/env bash
# Idempotent set-up of a development machine: Debian's Chromium, a .venv with the
# package in development mode, npm dependencies, the labextension build.
# Needs only python3 and Node.js/npm. Re-running skips what is already current.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STAMPS="$ROOT/.venv/.stamps"
say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
stamp_ok() { [[ -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
stamp_set() { mkdir -p "$STAMPS"; printf '%s' "$2" > "$STAMPS/$1"; }
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

# 1. Browser for the UI tests (Playwright cannot download its own here).
if [[ "${MF_SKIP_BROWSER:-0}" != 1 && ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]]; then
  say "installing Debian's chromium"
  SUDO=""; [[ "$(id -u)" != 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

# 2. Python environment.
if [[ ! -x .venv/bin/python ]]; then
  say "creating .venv"
  python3 -m venv .venv
fi
export PATH="$ROOT/.venv/bin:$PATH"
PY_HASH="$(hash_of python/pyproject.toml)"
if ! stamp_ok python "$PY_HASH"; then
  say "installing Python dependencies"
  python -m pip install -q --upgrade pip
  python -m pip install -q "hatchling>=1.21" "hatch-jupyter-builder>=0.5" editables "jupyter-builder>=1.2,<2"
  # Dependencies first (from pyproject), then the package itself without build isolation.
  python - <<'PY' > .venv/requirements.txt
import tomllib
p = tomllib.load(open("python/pyproject.toml", "rb"))["project"]
extras = p["optional-dependencies"]
deps = p["dependencies"] + extras["test"] + extras["lab"] + extras["dev"]
print("\n".join(sorted(set(deps))))
PY
  python -m pip install -q -r .venv/requirements.txt
  stamp_set python "$PY_HASH"
fi

# 2b. A second interpreter for the cell, export and executor tests: code text reads differently
# from Python 3.12 on (an f-string is several tokens). Python 3.12 (else 3.13) from PATH or
# pyenv; only what those tests need, from pip's cache; the package itself via PYTHONPATH.
# A pyenv shim exists for every installed version but fails unless that version is selected,
# so each candidate must actually run.
PY_NEXT=""
candidates=(python3.12 python3.13)
if command -v pyenv >/dev/null; then
  candidates+=("$(pyenv root)"/versions/3.12.*/bin/python "$(pyenv root)"/versions/3.13.*/bin/python)
fi
for c in "${candidates[@]}"; do
  if "$c" -c 'import sys; assert sys.version_info >= (3, 12)' >/dev/null 2>&1; then
    PY_NEXT="$(command -v "$c")"; break
  fi
done
if [[ -n "$PY_NEXT" && "${MF_SKIP_PY312:-0}" != 1 ]]; then
  if [[ ! -x .venv312/bin/python ]]; then
    say "creating .venv312 ($("$PY_NEXT" --version))"
    "$PY_NEXT" -m venv .venv312
  fi
  if ! stamp_ok python312 "$PY_HASH"; then
    say "installing the .venv312 test dependencies"
    python - <<'PY' > .venv312/requirements.txt
import tomllib
p = tomllib.load(open("python/pyproject.toml", "rb"))["project"]
test = [d for d in p["optional-dependencies"]["test"] if not d.startswith(("jupyterlab", "jupytext"))]
print("\n".join(sorted(set(p["dependencies"] + test))))
PY
    .venv312/bin/python -m pip install -q --upgrade pip
    .venv312/bin/python -m pip install -q -r .venv312/requirements.txt
    stamp_set python312 "$PY_HASH"
  fi
fi

# 3. JavaScript dependencies.
JS_HASH="$(hash_of package-lock.json)"
if [[ ! -d node_modules ]] || ! stamp_ok npm "$JS_HASH"; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  stamp_set npm "$JS_HASH"
fi
UI_HASH="$(hash_of ui-tests/package-lock.json)"
if [[ ! -d ui-tests/node_modules ]] || ! stamp_ok npm-ui "$UI_HASH"; then
  say "npm ci (ui-tests)"
  (cd ui-tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
  stamp_set npm-ui "$UI_HASH"
fi

# 4. Build the labextension (tsc + jupyter-builder; incremental, a few seconds).
say "building the labextension"
npm run --silent build >/dev/null

# 5. The package in development mode, its labextension linked into the venv.
if ! python -c "import jupyter_metaflow" 2>/dev/null || ! stamp_ok editable "$PY_HASH"; then
  say "installing jupyter-metaflow in development mode"
  python -m pip install -q --no-build-isolation --no-deps -e python/
  stamp_set editable "$PY_HASH"
fi
# A symlink to the build, so `npm run build` is what JupyterLab serves (pip's editable install
# leaves a copy of the labextension as it was then, which later builds never reach).
if [[ ! -L .venv/share/jupyter/labextensions/jupyter-metaflow ]]; then
  jupyter-builder develop --overwrite python >/dev/null 2>&1
fi
jupyter labextension list 2>&1 | grep -q "jupyter-metaflow.*enabled.*OK" \
  || { echo "jupyter-metaflow labextension is not enabled"; jupyter labextension list; exit 1; }
say "ready"
