"""`python -m pixl demo`: the whole job on the embedded default, on one machine.

Creates synthetic studies in a simulated VNA and PACS (real DICOM peers), a cohort CSV of
two projects, starts the built-in DICOM cache and real Celery workers on the filesystem
broker, enqueues, shows progress, and ends with what happened to each study.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pixl.local_stack import LocalStack
from pixl.settings import get_settings
from pixl.synthetic import StudySpec, random_specs, write_study

REPO_PROJECTS = Path(__file__).resolve().parents[1] / "projects"
PROJECT_OF_MODALITY = {"CT": "demo-ct-mr", "MR": "demo-ct-mr", "DX": "demo-xray", "CR": "demo-xray"}
EXTRACT_TIME = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
TIMEOUT_SECONDS = 240


@dataclass(frozen=True)
class PlannedStudy:
    spec: StudySpec
    project: str
    held_by: str  # vna, pacs or nowhere
    by_accession_only: bool


def plan_cohort(count: int, seed: int = 7) -> list[PlannedStudy]:
    """Most studies in the VNA, every fourth only in the PACS, the last one nowhere."""
    planned = []
    for index, spec in enumerate(random_specs(count, seed=seed)):
        held_by = "nowhere" if index == count - 1 else "pacs" if index % 4 == 3 else "vna"
        planned.append(
            PlannedStudy(spec, PROJECT_OF_MODALITY[spec.modality], held_by, index % 5 == 1)
        )
    return planned


def write_inputs(planned: list[PlannedStudy], stack: LocalStack, cohort_csv: Path) -> None:
    """Put each study in its archive and write the cohort CSV naming them all."""
    columns = [
        "procedure_id", "mrn", "accession_number", "project_name",
        "extract_generated_timestamp", "study_date", "study_uid", "participant_id",
    ]  # fmt: skip
    with cohort_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for index, item in enumerate(planned, start=1):
            folder = {"vna": stack.vna_folder, "pacs": stack.pacs_folder}.get(item.held_by)
            if folder is not None:
                write_study(item.spec, folder / item.spec.study_uid)
            study_date = (
                f"{item.spec.study_date[:4]}-{item.spec.study_date[4:6]}-{item.spec.study_date[6:]}"
            )
            writer.writerow([
                index, item.spec.mrn, item.spec.accession_number, item.project,
                EXTRACT_TIME.isoformat(), study_date,
                "" if item.by_accession_only else item.spec.study_uid, "",
            ])  # fmt: skip


def seed_secrets(projects: set[str]) -> None:
    """Embedded default: a random hashing key and per-project salts in the local file."""
    from pixl.secrets import HASH_KEY_SECRET, LocalSecretStore, project_salt_secret

    settings = get_settings()
    assert settings.secrets_file is not None
    store = LocalSecretStore(settings.secrets_file)
    store.ensure_random(HASH_KEY_SECRET)
    for project in projects:
        store.ensure_random(project_salt_secret(project))


def wait_until_finished(total: int) -> None:
    from pixl.status import extract_statuses, progress_bar

    deadline = time.monotonic() + TIMEOUT_SECONDS
    # On a terminal one line redrawn in place; in a log, one line per change.
    redraw, last = sys.stdout.isatty(), ""
    while time.monotonic() < deadline:
        statuses = extract_statuses()
        finished = sum(s.finished for s in statuses)
        counts: dict[str, int] = {}
        for entry in statuses:
            for state, n in entry.counts.items():
                counts[state] = counts.get(state, 0) + n
        detail = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        line = f"  {progress_bar(finished, total)}  {detail}"
        if redraw:
            print(f"\r{line}    ", end="", flush=True)
        elif line != last:
            print(line, flush=True)
        last = line
        if finished >= total:
            if redraw:
                print()
            return
        time.sleep(0.5)
    print()
    raise TimeoutError(f"studies still running after {TIMEOUT_SECONDS}s; see the worker logs")


def print_outcome(planned: list[PlannedStudy], workdir: Path) -> None:
    from sqlalchemy import select

    from pixl.records import Study, session_scope

    with session_scope() as session:
        records = {s.procedure_occurrence_id: s for s in session.scalars(select(Study))}
    print(f"\n{'row':>3}  {'project':<11} {'mod':<3} {'planted in':<10} {'outcome':<10} "
          f"{'from':<5} {'inst':>4}  where / why")  # fmt: skip
    for index, item in enumerate(planned, start=1):
        study = records[str(index)]
        where = study.location or study.last_error or ""
        print(
            f"{index:>3}  {item.project:<11} {item.spec.modality:<3} {item.held_by:<10} "
            f"{study.status.value:<10} {study.found_in or '-':<5} {study.n_instances or 0:>4}  "
            f"{where}"
        )
    settings = get_settings()
    print(f"\nDe-identified studies: {settings.output_dir}")
    print(f"Records: {settings.database_url}   Worker logs: {workdir / 'logs'}")
    print(f"Try: PIXL_DATA_DIR={settings.data_dir} python -m pixl status")


def run_demo(workdir: Path, studies: int = 12) -> int:
    workdir = workdir.resolve()
    shutil.rmtree(workdir, ignore_errors=True)
    stack = LocalStack(workdir, projects_dir=REPO_PROJECTS)
    os.environ.update(stack.configure())
    get_settings.cache_clear()

    from pixl.enqueue import enqueue_cohort
    from pixl.records import migrate

    planned = plan_cohort(studies)
    cohort_csv = workdir / "cohort.csv"
    print(f"pixl demo in {workdir}")
    print(f"  {studies} synthetic studies: {sum(p.held_by == 'vna' for p in planned)} in the VNA, "
          f"{sum(p.held_by == 'pacs' for p in planned)} only in the PACS, "
          f"{sum(p.held_by == 'nowhere' for p in planned)} in neither")  # fmt: skip
    write_inputs(planned, stack, cohort_csv)
    seed_secrets({p.project for p in planned})
    migrate()
    print("  starting the simulated VNA and PACS, the DICOM cache and 2 Celery workers")
    with stack:
        from pixl.tasks import declare_topology, study_chain

        declare_topology()
        summary = enqueue_cohort(
            cohort_csv,
            get_settings(),
            publish=lambda study_id, priority: study_chain(study_id, priority).apply_async(),
        )
        print(f"  enqueued {summary.published} studies from {cohort_csv.name}")
        try:
            wait_until_finished(summary.published)
        except TimeoutError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print_outcome(planned, workdir)
    return 0
