"""Shared fixtures, and a report for the JS test run: with INVOKER_PYTEST_REPORT set, every test's
outcome (and its failure text) is written there as JSON, so that vitest can show each pytest test
as one of its own (test/node/python.test.ts) and CI's summary line counts them."""

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

_results = []


def pytest_runtest_logreport(report):
    # One entry per test: its call phase, or the setup/teardown phase that failed or skipped it.
    if report.when == "call" or report.outcome != "passed":
        _results.append({"nodeid": report.nodeid, "when": report.when, "outcome": report.outcome, "longrepr": str(report.longrepr) if report.failed else ""})


def pytest_collectreport(report):
    if report.failed:
        _results.append({"nodeid": report.nodeid or "collection", "when": "collect", "outcome": "failed", "longrepr": str(report.longrepr)})


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("INVOKER_PYTEST_REPORT")
    if path:
        Path(path).write_text(json.dumps({"exitstatus": int(exitstatus), "results": _results}))


@pytest.fixture(scope="session")
def vectors():
    return json.loads((ROOT / "test" / "vectors" / "x-invoker.json").read_text())
