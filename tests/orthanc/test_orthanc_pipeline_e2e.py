"""The pipeline in its production shape: an Orthanc VNA, a pynetdicom PACS, the Orthanc
raw cache running `orthanc/orthanc-raw.json`, real workers on RabbitMQ, records in
PostgreSQL. A second project asking for the same studies gets them from the cache."""

from __future__ import annotations

import csv
import json

from orthanc_helpers import PIXL_AE
from pipeline_support import assert_outcomes, records, run_cli, wait_for_final

from pixl.dicom.orthanc import OrthancProcess
from pixl.records import StudyStatus


def test_orthanc_vna_and_raw_cache_end_to_end(
    stack_factory,
    vna: OrthancProcess,
    raw_cache_server: OrthancProcess,
    rabbitmq_vhost: str,
    postgres_url: str,
) -> None:  # type: ignore[no-untyped-def]
    raw_cache_server.empty()
    user, password = raw_cache_server.auth or ("", "")
    stack, planned, cohort = stack_factory(
        {
            "PIXL_BROKER_URL": rabbitmq_vhost,
            "PIXL_DATABASE_URL": postgres_url,
            "PIXL_AE_TITLE": PIXL_AE,
            "PIXL_VNA": json.dumps(vna.node.model_dump()),
            "PIXL_RAW_CACHE": "orthanc",
            "PIXL_ORTHANC_URL": raw_cache_server.url,
            "PIXL_ORTHANC_USERNAME": user,
            "PIXL_ORTHANC_PASSWORD": password,
            "PIXL_CACHE_NODE": json.dumps(raw_cache_server.node.model_dump()),
        },
        studies=6,
        external=frozenset({"vna", "cache"}),
    )
    for study_folder in stack.vna_folder.iterdir():
        vna.upload(path.read_bytes() for path in study_folder.glob("*.dcm"))
    assert run_cli(stack.env, "enqueue", str(cohort)).returncode == 0, "enqueue failed"
    final = wait_for_final(6)
    assert_outcomes(planned, final)
    cache = raw_cache_server.cache()
    for item, study in zip(planned, (final[str(i)] for i in range(1, 7)), strict=True):
        if item.held_by != "nowhere":
            held = sum(len(s) for s in cache.instances(item.spec.study_uid).values())
            assert held == study.n_instances

    # The other project asks for the same VNA studies: they come from the raw cache.
    rows = list(csv.reader(cohort.open()))
    for row in rows[1:]:
        row[3] = "demo-xray" if row[3] == "demo-ct-mr" else "demo-ct-mr"
        row[0] = str(int(row[0]) + 100)
    swapped = cohort.with_name("swapped.csv")
    with swapped.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    assert run_cli(stack.env, "enqueue", str(swapped)).returncode == 0
    final = wait_for_final(12)
    for index, item in enumerate(planned, start=101):
        study = records()[str(index)]
        if item.held_by == "nowhere":
            assert study.status is StudyStatus.NOT_FOUND
        elif item.spec.study_uid and study.study_uid:
            assert study.found_in == "cache", (index, study.found_in, study.last_error)
