"""Anonymise task: de-identify a retrieved study from the raw cache into the staging area."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

from celery import Task

from pixl import components
from pixl.errors import AnonymisationError, ConfigError, SecretNotFoundError
from pixl.records.models import Study, StudyStatus
from pixl.records.transitions import load_study, set_status
from pixl.settings import get_settings
from pixl.tasks.app import app
from pixl.tasks.common import PIPELINE_TASK_OPTIONS, end_study, log, stop_chain


def staging_dir(study: Study) -> Path:
    """Where a study's de-identified instances wait for upload (named by record id)."""
    root = get_settings().staging_dir
    assert root is not None
    return root / study.extract.project_slug / str(study.id)


def _cached_instances(study: Study) -> Iterator[bytes]:
    cache = components.raw_cache()
    series = set(study.series_uid_list)
    for study_uid in study.source_study_uid_list:
        held = cache.instances(study_uid)
        wanted = {sop for uid, sops in held.items() if not series or uid in series for sop in sops}
        for sop_uid, data in cache.read_instances(study_uid):
            if sop_uid in wanted:
                yield data


@app.task(name="pixl.anonymise", **PIPELINE_TASK_OPTIONS)
def anonymise(self: Task, study_id: int) -> None:
    study = load_study(study_id)
    if study.status is not StudyStatus.RETRIEVED:
        if study.status is not StudyStatus.ANONYMISED:
            stop_chain(self)
        log.info("%s is %s; anonymise skipped", study.describe(), study.status.value)
        return
    output = staging_dir(study)
    # A crash mid-study leaves a partial staging folder: start it again from nothing.
    shutil.rmtree(output, ignore_errors=True)
    try:
        engine = components.anonymiser(study.extract.project_slug)
        result = engine.anonymise_study(_cached_instances(study), output, study.participant_id)
    except (AnonymisationError, ConfigError, SecretNotFoundError) as exc:
        shutil.rmtree(output, ignore_errors=True)
        end_study(self, study_id, StudyStatus.FAILED, f"anonymise: {exc}")
        return
    if not result.files and not result.dropped:
        # Nothing was read at all: the cache lost the study, which is no project decision.
        end_study(self, study_id, StudyStatus.FAILED, "anonymise: the raw cache held no instance")
        return
    if not result.files:
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(result.dropped.items()))
        end_study(self, study_id, StudyStatus.EXCLUDED, f"no instance kept ({reasons})")
        return
    set_status(
        study_id,
        StudyStatus.ANONYMISED,
        pseudo_study_uid=result.pseudo_study_uid,
        pseudo_patient_id=result.pseudo_patient_id,
    )
    log.info(
        "%s anonymised: %d instances kept, %d dropped",
        study.describe(),
        len(result.files),
        sum(result.dropped.values()),
    )
