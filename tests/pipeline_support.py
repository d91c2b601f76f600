"""Helpers for tests that run the whole pipeline as real processes (see conftest's
`stack_factory`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from pixl.demo import PlannedStudy
from pixl.records import Study, StudyStatus, session_scope
from pixl.settings import get_settings
from pixl.synthetic import identifying_values

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


def assert_outcomes(planned: list[PlannedStudy], final: dict[str, Study]) -> None:
    """Each study ends as its placement says, and exported files hold no identifier."""
    output = get_settings().output_dir
    assert output is not None
    for index, item in enumerate(planned, start=1):
        study = final[str(index)]
        if item.held_by == "nowhere":
            assert study.status is StudyStatus.NOT_FOUND, study.last_error
            assert "not in the VNA nor in the PACS" in (study.last_error or "")
            continue
        assert study.status is StudyStatus.EXPORTED, study.last_error
        assert study.found_in == item.held_by
        folder = output / item.project / str(study.pseudo_study_uid)
        files = sorted(folder.glob("*.dcm"))
        assert files, f"nothing delivered for row {index} in {folder}"
        secrets = [v.encode() for v in identifying_values(item.spec) if len(v) >= 4]
        for file in files:
            data = file.read_bytes()
            leaked = [s for s in secrets if s in data]
            assert not leaked, f"{file.name} still holds {len(leaked)} identifying values"
