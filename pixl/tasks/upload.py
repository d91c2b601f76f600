"""Upload task: deliver a de-identified study from staging to the project's destination."""

from __future__ import annotations

import shutil

from celery import Task

from pixl import components
from pixl.errors import ConfigError, SecretNotFoundError, UploadError
from pixl.records.models import StudyStatus
from pixl.records.transitions import load_study, set_status
from pixl.settings import get_settings
from pixl.tasks.anonymise import staging_dir
from pixl.tasks.app import app
from pixl.tasks.common import PIPELINE_TASK_OPTIONS, backoff_seconds, end_study, log


@app.task(name="pixl.upload", **PIPELINE_TASK_OPTIONS)
def upload(self: Task, study_id: int) -> None:
    study = load_study(study_id)
    if study.status is not StudyStatus.ANONYMISED:
        log.info("%s is %s; upload skipped", study.describe(), study.status.value)
        return
    assert study.pseudo_study_uid is not None
    files = sorted(staging_dir(study).glob("*.dcm"))
    slug = study.extract.project_slug
    try:
        destination = components.uploader(slug)
        location = destination.upload_study(slug, study.pseudo_study_uid, files)
    except (ConfigError, SecretNotFoundError) as exc:
        end_study(self, study_id, StudyStatus.FAILED, f"upload: {exc}")
        return
    except UploadError as exc:
        # A corrected secret (in the secrets file or Key Vault) is then read on the next try.
        components.forget_destinations()
        if exc.permanent or self.request.retries >= get_settings().retrieve_max_retries:
            end_study(self, study_id, StudyStatus.FAILED, f"upload: {exc}")
            return
        log.warning("%s upload failed, will retry: %s", study.describe(), exc)
        raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries)) from exc
    set_status(study_id, StudyStatus.EXPORTED, location=location)
    shutil.rmtree(staging_dir(study), ignore_errors=True)
    log.info("%s exported to %s", study.describe(), location)
