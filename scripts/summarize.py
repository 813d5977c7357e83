"""Print one line "N passed, N failed" summing the static checks, pytest, jest and Playwright."""

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def check_counts(path: Path) -> tuple[int, int]:
    """scripts/check.sh's results: each check is one test; the failed ones are named."""
    data = json.loads(path.read_text())
    if data["failed"]:
        print("checks failed: " + ", ".join(data["failed"]))
    return data["passed"], len(data["failed"])


def pytest_counts(path: Path) -> tuple[int, int]:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    total = failed = skipped = 0
    for suite in suites:
        total += int(suite.get("tests", 0))
        failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped += int(suite.get("skipped", 0))
    return total - failed - skipped, failed


def jest_counts(path: Path) -> tuple[int, int]:
    data = json.loads(path.read_text())
    failed = data["numFailedTests"] + data.get("numRuntimeErrorTestSuites", 0)
    return data["numPassedTests"], failed


def playwright_counts(path: Path) -> tuple[int, int]:
    """Passed includes tests that failed once and passed on their one CI retry (named below).
    An error outside the tests (the web server did not start, a spec did not compile) stopped
    the run: each counts as a failure."""
    data = json.loads(path.read_text())
    stats = data["stats"]
    if stats.get("flaky"):
        print(
            f"playwright: {stats['flaky']} flaky (passed on retry): "
            + ", ".join(_flaky_titles(data))
        )
    errors = data.get("errors", [])
    for error in errors:
        print("playwright: " + error.get("message", "an error outside the tests").splitlines()[0])
    return stats["expected"] + stats.get("flaky", 0), stats["unexpected"] + len(errors)


def _flaky_titles(data: dict) -> list[str]:
    titles = []

    def walk(suite: dict) -> None:
        for spec in suite.get("specs", []):
            if any(t.get("status") == "flaky" for t in spec.get("tests", [])):
                titles.append(f"{spec.get('file', '')}: {spec['title']}")
        for child in suite.get("suites", []):
            walk(child)

    for suite in data.get("suites", []):
        walk(suite)
    return titles


def main(out: Path) -> int:
    passed = failed = 0
    suites = [
        ("checks.json", check_counts),
        ("pytest.xml", pytest_counts),
        ("jest.json", jest_counts),
        ("playwright.json", playwright_counts),
    ]
    for extra in sorted(out.glob("pytest312-*.xml")):  # the second interpreter's runs, if any
        suites.insert(2, (extra.name, pytest_counts))
    for name, reader in suites:
        path = out / name
        if not path.exists():
            print(f"{name}: missing (the suite did not run to completion)")
            failed += 1
            continue
        p, f = reader(path)
        print(f"{name.split('.')[0]}: {p} passed, {f} failed")
        passed += p
        failed += f
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
