"""Instances per second of pixl's retrieval against Orthanc's own C-MOVE, same studies, same run.

A VNA (Orthanc) holds a synthetic CT cohort. Reference: the raw cache Orthanc asks the VNA to
C-MOVE each study to itself (`POST /modalities/vna/move`, synchronous). pixl:
`retrieve_into_cache` per study (C-FIND series, cache listing, C-MOVE, verification) into a
second Orthanc with the same raw cache configuration, once as the tasks call it and once
inside `with archive:` (one association per study instead of one per C-FIND and C-MOVE).
Both caches are emptied before every round; the best round of each counts, rounds
interleaved. Run with `TCP_NODELAY=1` (as deployed), then without it on a quarter of the
cohort (Debian's Orthanc leaves Nagle on).

    python benchmarks/bench_retrieve.py [--studies 20] [--instances 30] [--size 256] [--rounds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path

import pydicom

from pixl.dicom.orthanc import OrthancProcess, load_raw_config
from pixl.dicom.scu import DicomArchive
from pixl.retrieval import retrieve_into_cache
from pixl.settings import DicomNode
from pixl.synthetic import StudySpec, make_study, random_specs

PIXL_AE = "PIXL"


def _files(specs: list[StudySpec]) -> Iterator[bytes]:
    for spec in specs:
        for ds in make_study(spec):
            buffer = BytesIO()
            pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
            yield buffer.getvalue()


def _servers(root: Path, tcp_nodelay: bool, started: list[OrthancProcess]) -> None:
    """Start a VNA and two raw caches into `started`; each cache knows the VNA as "vna",
    the VNA knows both caches and pixl's AE."""
    vna = OrthancProcess(root / "vna", {"DicomAet": "VNA", "SaveJobs": False}, None, tcp_nodelay)
    vna.start()
    started.append(vna)
    env = {
        "ORTHANC_USERNAME": "pixl",
        "ORTHANC_PASSWORD": "bench",
        "VNA_AE_TITLE": vna.node.ae_title,
        "VNA_HOST": vna.node.host,
        "VNA_PORT": str(vna.node.port),
        "PACS_AE_TITLE": "PACS",
        "PACS_HOST": "127.0.0.1",
        "PACS_PORT": "104",
    }
    vna.add_modality("pixl", DicomNode(ae_title=PIXL_AE, port=104))
    for name in ("REFCACHE", "PIXLCACHE"):
        config = {**load_raw_config(), "DicomAet": name}
        cache = OrthancProcess(root / name.lower(), config, env, tcp_nodelay)
        cache.start()
        started.append(cache)
        vna.add_modality(name.lower(), cache.node)


def _best_rates(
    runs: list[Callable[[], None]], resets: list[Callable[[], None]], count: int, rounds: int
) -> list[float]:
    """Instances per second of each run, best of `rounds`, runs interleaved in each round."""
    best = [float("inf")] * len(runs)
    for _ in range(rounds):
        for index, (run, reset) in enumerate(zip(runs, resets, strict=True)):
            reset()
            start = time.perf_counter()
            run()
            best[index] = min(best[index], time.perf_counter() - start)
    return [count / seconds for seconds in best]


def measure(specs: list[StudySpec], rounds: int, tcp_nodelay: bool) -> list[float]:
    """Instances per second: reference, pixl, pixl holding one association per study."""
    count = sum(spec.series_count * spec.instances_per_series for spec in specs)
    started: list[OrthancProcess] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            _servers(Path(tmp), tcp_nodelay, started)
            vna, ref_cache, pixl_cache = started
            vna.upload(_files(specs))
            archive = DicomArchive(vna.node, PIXL_AE, timeout=60)
            cache = pixl_cache.cache(timeout=60)

            def orthanc_move() -> None:
                for spec in specs:
                    body = {
                        "Level": "Study",
                        "Resources": [{"StudyInstanceUID": spec.study_uid}],
                        "TargetAet": ref_cache.node.ae_title,
                        "Synchronous": True,
                    }
                    ref_cache.api("POST", "/modalities/vna/move", json=body)
                held = ref_cache.api("GET", "/statistics")["CountInstances"]
                assert held == count, f"reference cache holds {held} of {count} instances"

            def pixl_retrieve() -> None:
                for spec in specs:
                    retrieve_into_cache(archive, cache, [spec.study_uid], [])

            def pixl_retrieve_held() -> None:
                for spec in specs:
                    with archive:  # one association for the job's C-FINDs and C-MOVE
                        retrieve_into_cache(archive, cache, [spec.study_uid], [])

            return _best_rates(
                [orthanc_move, pixl_retrieve, pixl_retrieve_held],
                [ref_cache.empty, pixl_cache.empty, pixl_cache.empty],
                count,
                rounds,
            )
        finally:
            for server in started:
                server.terminate()
            for server in started:
                server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=20)
    parser.add_argument("--instances", type=int, default=30, help="per study, in 2 series")
    parser.add_argument("--size", type=int, default=256, help="rows and columns")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    specs = [
        dataclasses.replace(
            spec,
            series_count=2,
            instances_per_series=args.instances // 2,
            rows=args.size,
            columns=args.size,
        )
        for spec in random_specs(args.studies, seed=7, modalities=("CT",))
    ]
    count = sum(spec.series_count * spec.instances_per_series for spec in specs)
    print(
        f"{len(specs)} studies, {count} CT instances of {args.size}x{args.size}, "
        f"best of {args.rounds} rounds"
    )
    # With Nagle's algorithm on, everything is about 15 times slower: a quarter of the
    # cohort, one round, is enough to show it.
    runs = [(True, specs, args.rounds), (False, specs[: max(1, len(specs) // 4)], 1)]
    for tcp_nodelay, cohort, rounds in runs:
        reference, pixl, held = measure(cohort, rounds, tcp_nodelay)
        print(
            f"{'TCP_NODELAY=1' if tcp_nodelay else 'Nagle on'}: Orthanc C-MOVE "
            f"{reference:.1f} inst/s; pixl retrieve_into_cache {pixl:.1f} inst/s "
            f"(ratio {pixl / reference:.2f}); with one association per study {held:.1f} "
            f"inst/s (ratio {held / reference:.2f})"
        )


if __name__ == "__main__":
    main()
