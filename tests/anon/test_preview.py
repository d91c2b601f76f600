"""The preview: per-tag counts over real engine output."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pydicom
from anon_helpers import KEY, SALT

from pixl.anon.preview import format_report, preview
from pixl.anon.pseudonyms import Pseudonymiser
from pixl.synthetic import identifying_values, random_specs, write_study

REPO_PROJECTS = Path(__file__).resolve().parents[2] / "projects"


def test_preview_counts_what_the_rules_do(tmp_path: Path) -> None:
    (spec,) = random_specs(1, seed=5, modalities=("CT",))
    spec = dataclasses.replace(spec, series_count=3, instances_per_series=2)
    write_study(spec, tmp_path / "in")
    (tmp_path / "in" / "notes.txt").write_text("not DICOM")
    report = preview(REPO_PROJECTS, "demo-ct-mr", [tmp_path / "in"], tmp_path / "out", KEY, SALT)

    by_keyword = {t.keyword: t for t in report.tags}
    taken = 4  # series 3 is the SCOUT: filtered, so not counted
    assert by_keyword["PatientID"].hashed == taken
    assert by_keyword["PatientName"].replaced == taken
    assert by_keyword["StudyInstanceUID"].replaced == taken
    assert by_keyword["Rows"].kept == taken
    assert by_keyword["InstitutionName"].removed == taken
    assert by_keyword["ReferencedSOPInstanceUID"].replaced == taken  # inside a kept sequence
    assert by_keyword["OtherPatientIDsSequence"].removed == taken
    assert "PatientID" in by_keyword and by_keyword["PatientID"].removed == 0

    folder = Pseudonymiser(KEY, SALT).uid(spec.study_uid)
    result = report.studies[folder]
    assert result.kept == taken and result.dropped == {"series_description": 2}
    assert sorted((tmp_path / "out" / folder).iterdir()) == sorted(result.files)
    assert pydicom.dcmread(result.files[0]).PatientName == "ANON"
    assert report.refused == {}

    text = format_report(report)
    assert "(0010,0020) PatientID" in text
    assert f"study {folder}: 4 written; dropped 2 series_description" in text
    assert not [v for v in identifying_values(spec) if v in text]
