#!/usr/bin/env bash
# Static checks, run by scripts/test.sh before the tests (and by hand: `bash scripts/check.sh`):
# ruff (lint + format), mypy on python/jupyter_metaflow, ESLint, Prettier, stylelint and the
# generated protocol types. Each check counts as one test in the summary line: the results go to
# OUT/checks.json, read by scripts/summarize.py. Exits non-zero when a check fails.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$ROOT/.venv/bin:$PATH"
OUT="${1:-$ROOT/.ci/out}"
mkdir -p "$OUT"
passed=()
failed=()

check() {
  local name="$1"
  shift
  echo "-- $name: $*"
  if "$@"; then
    passed+=("$name")
  else
    failed+=("$name")
    echo "-- $name FAILED"
  fi
}

check "ruff check" ruff check .
check "ruff format" ruff format --check .
check "mypy" bash -c 'cd python && mypy'
check "eslint" npx eslint . --ext .ts,.tsx
check "prettier" npm run --silent prettier:check
check "stylelint" npx stylelint "style/**/*.css"
check "protocol types" npm run --silent build:schema:check

python - "$OUT/checks.json" "${#passed[@]}" "${failed[@]}" <<'PY'
import json, sys
path, n_passed, failed = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
json.dump({"passed": n_passed, "failed": failed}, open(path, "w"))
PY
echo "checks: ${#passed[@]} passed, ${#failed[@]} failed${failed:+ (${failed[*]})}"
[[ ${#failed[@]} -eq 0 ]]
