"""Instances per second of the anonymiser against plain pydicom read+write of the same files.

Both run file to file, one core, same synthetic CT files, in the same run; the ratio is what
matters (target >= 0.8). The study-level figure adds the leak check and atomic writes.

    python benchmarks/bench_anonymise.py [--instances 200] [--size 512] [--rounds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pydicom

from pixl.anon.config import load_project_config
from pixl.anon.engine import AnonymisedInstance, Anonymiser
from pixl.anon.pseudonyms import Pseudonymiser
from pixl.synthetic import random_specs, write_study

PROJECTS = Path(__file__).resolve().parents[1] / "projects"


def _best_rates(runs: list[Callable[[], None]], count: int, rounds: int) -> list[float]:
    """Instances per second of each run, best of `rounds`, the runs interleaved in each round
    so that a busy moment of the machine does not favour one of them."""
    best = [float("inf")] * len(runs)
    for _ in range(rounds):
        for index, run in enumerate(runs):
            start = time.perf_counter()
            run()
            best[index] = min(best[index], time.perf_counter() - start)
    return [count / seconds for seconds in best]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--size", type=int, default=512, help="rows and columns")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    (spec,) = random_specs(1, seed=1, modalities=("CT",))
    spec = dataclasses.replace(
        spec,
        series_count=2,
        instances_per_series=args.instances // 2,
        rows=args.size,
        columns=args.size,
    )
    anonymiser = Anonymiser(
        load_project_config(PROJECTS, "demo-ct-mr"), Pseudonymiser(b"bench-key", b"bench-salt")
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sources = write_study(spec, root / "in")  # series 0 and 1: no SCOUT, nothing dropped
        out = root / "out"
        out.mkdir()
        count = len(sources)

        def plain() -> None:
            for path in sources:
                pydicom.dcmwrite(out / path.name, pydicom.dcmread(path))

        def anonymise() -> None:
            for path in sources:
                result = anonymiser.anonymise_instance(path)
                assert isinstance(result, AnonymisedInstance)
                (out / f"{result.sop_instance_uid}.dcm").write_bytes(result.data)

        def study() -> None:
            anonymiser.anonymise_study(sources, root / "study", None)

        anonymise()  # warm the caches once, as a worker would be
        reference, engine, with_check = _best_rates([plain, anonymise, study], count, args.rounds)
        size_kb = sources[0].stat().st_size // 1024

    print(
        f"{count} CT instances of {args.size}x{args.size} ({size_kb} KiB), best of {args.rounds}:"
    )
    print(f"  pydicom read+write           {reference:8.1f} instances/s")
    print(
        f"  anonymise_instance           {engine:8.1f} instances/s  ratio {engine / reference:.2f}"
    )
    print(
        f"  anonymise_study (leak check) {with_check:8.1f} instances/s"
        f"  ratio {with_check / reference:.2f}"
    )


if __name__ == "__main__":
    main()
