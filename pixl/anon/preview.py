"""Preview a project's de-identification on local files, before any cohort runs.

Runs the real engine (filters, rules, leak check) into a folder and counts, per tag, how
often the rules keep, replace, hash or remove it in the instances the project takes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset

from pixl.anon.config import load_project_config
from pixl.anon.engine import Anonymiser, StudyResult
from pixl.anon.pseudonyms import Pseudonymiser
from pixl.anon.tagops import Op, RuleTable
from pixl.errors import AnonymisationError

_CATEGORIES = {Op.KEEP: "kept", Op.SECURE_HASH: "hashed"}  # every other surviving op replaces


@dataclass
class TagSummary:
    """What the rules did to one tag, counted over every occurrence at every depth."""

    tag: int
    keyword: str
    kept: int = 0
    replaced: int = 0
    hashed: int = 0
    removed: int = 0

    @property
    def label(self) -> str:
        return f"({self.tag >> 16:04X},{self.tag & 0xFFFF:04X}) {self.keyword}"

    def add(self, other: TagSummary) -> None:
        self.kept += other.kept
        self.replaced += other.replaced
        self.hashed += other.hashed
        self.removed += other.removed


@dataclass
class PreviewReport:
    """Per-tag counts, the result of each study, the studies refused (leak check) and the
    files skipped because they are not DICOM."""

    tags: list[TagSummary] = field(default_factory=list)
    studies: dict[str, StudyResult] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    skipped: list[Path] = field(default_factory=list)


def _files(inputs: Iterable[Path]) -> list[Path]:
    """The files named, and every file under the folders named, in a stable order."""
    found: list[Path] = []
    for path in inputs:
        found += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return found


def _count(ds: Dataset, rules: RuleTable, counts: dict[int, TagSummary]) -> None:
    for tag in ds.keys():  # noqa: SIM118 (tags; iterating the dataset would decode elements)
        summary = counts.get(tag)
        if summary is None:
            summary = counts[tag] = TagSummary(tag, keyword_for_tag(tag) or "(private)")
        op = rules.ops.get(tag)
        if op is None:
            summary.removed += 1
            continue
        category = _CATEGORIES.get(op, "replaced")
        setattr(summary, category, getattr(summary, category) + 1)
        if tag in rules.sequences or _is_private_sequence(ds, tag):
            for item in ds[tag].value:
                _count(item, rules, counts)


def _is_private_sequence(ds: Dataset, tag: int) -> bool:
    if not tag >> 16 & 1:
        return False
    elem = ds.get_item(tag)
    return elem is not None and elem.VR == "SQ"


def _study_uid(ds: Dataset) -> str:
    value = ds.get("StudyInstanceUID")
    return str(value) if value else "(no StudyInstanceUID)"


def preview(
    projects_dir: Path, slug: str, inputs: list[Path], output: Path, key: bytes, salt: bytes
) -> PreviewReport:
    """De-identify `inputs` (files or folders) for project `slug` into `output/<pseudo study
    uid>/` and summarise, per tag, what the rules did. Studies the leak check refuses are
    reported in `refused`, with nothing written for them."""
    anonymiser = Anonymiser(load_project_config(projects_dir, slug), Pseudonymiser(key, salt))
    counts: dict[int, TagSummary] = {}
    by_study: dict[str, list[Path]] = {}
    skipped: list[Path] = []
    for path in _files(inputs):
        try:
            ds = pydicom.dcmread(path)
        except Exception:  # not DICOM (or not readable at all): skipped
            skipped.append(path)
            continue
        by_study.setdefault(_study_uid(ds), []).append(path)
        instance: dict[int, TagSummary] = {}
        try:
            if anonymiser.exclusion(ds) is None:
                _count(ds, anonymiser.rules_for(ds), instance)
        except Exception:  # an undecodable element: the engine drops the instance too
            continue
        for tag, summary in instance.items():
            counts.setdefault(tag, TagSummary(tag, summary.keyword)).add(summary)
    report = PreviewReport(tags=[counts[tag] for tag in sorted(counts)], skipped=skipped)
    for study_uid, paths in by_study.items():
        folder = output / anonymiser.pseudonyms.uid(study_uid)
        try:
            report.studies[folder.name] = anonymiser.anonymise_study(paths, folder, None)
        except AnonymisationError as exc:
            report.refused[folder.name] = str(exc)
    return report


def format_report(report: PreviewReport) -> str:
    """A plain-text table for the command line."""
    width = max([len(t.label) for t in report.tags] + [20])
    lines = [f"{'tag':<{width}}  {'kept':>6} {'replaced':>8} {'hashed':>6} {'removed':>7}"]
    for t in report.tags:
        lines.append(
            f"{t.label:<{width}}  {t.kept:>6} {t.replaced:>8} {t.hashed:>6} {t.removed:>7}"
        )
    for name, result in report.studies.items():
        dropped = ", ".join(f"{n} {reason}" for reason, n in sorted(result.dropped.items()))
        lines.append(
            f"study {name}: {result.kept} written" + (f"; dropped {dropped}" if dropped else "")
        )
    for name, problem in report.refused.items():
        lines.append(f"study {name}: REFUSED - {problem}")
    if report.skipped:
        lines.append(f"skipped {len(report.skipped)} file(s) that are not DICOM")
    return "\n".join(lines)
