#!/usr/bin/env bash
# Every test: set up (idempotent), then the static checks (scripts/check.sh), pytest, jest and the
# Galata UI tests. Ends with one line "N passed, N failed" summing them all (each check counts as
# one); exits non-zero on any failure.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
export PATH="$ROOT/.venv/bin:$PATH"
OUT="$ROOT/.ci/out"
rm -rf "$OUT"; mkdir -p "$OUT"
status=0

echo "== checks (ruff, mypy, ESLint, Prettier, stylelint, protocol types)"
bash scripts/check.sh "$OUT" || status=1

echo "== pytest"
(cd python && python -m pytest -q -p no:cacheprovider --junitxml="$OUT/pytest.xml") || status=1

if [[ -x .venv312/bin/python ]]; then
  echo "== pytest on $(.venv312/bin/python --version): the unit layer and the executor"
  py312() { (cd python && PYTHONPATH="$ROOT/python" "$ROOT/.venv312/bin/python" -m pytest -q -p no:cacheprovider "$@"); }
  py312 --junitxml="$OUT/pytest312-unit.xml" -m unit tests/unit || status=1
  py312 --junitxml="$OUT/pytest312-executor.xml" tests/kernel/test_executor.py || status=1
fi

echo "== jest"
npx jest --ci --json --outputFile="$OUT/jest.json" || status=1

echo "== Galata UI tests (Debian Chromium)"
(cd ui-tests && MF_UI_JSON="$OUT/playwright.json" npx playwright test) || status=1

python scripts/summarize.py "$OUT" || status=1
exit $status
