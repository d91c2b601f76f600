"""Helpers for tests that run the whole pipeline as real processes (see conftest's
`stack_factory`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from pixl.records import Study, session_scope

STUDIES = 8
DEADLINE_SECONDS = 180


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pixl", *args],
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def records() -> dict[str, Study]:
    with session_scope() as session:
        return {s.procedure_occurrence_id: s for s in session.scalars(select(Study))}


def wait_for_final(expected: int) -> dict[str, Study]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        current = records()
        if len(current) == expected and all(s.status.is_final for s in current.values()):
            return current
        time.sleep(0.5)
    states = {k: v.status.value for k, v in records().items()}
    pytest.fail(f"studies not finished after {DEADLINE_SECONDS}s: {states}")
