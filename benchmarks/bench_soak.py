"""Soak: a large cohort of small studies through the whole pipeline, on real servers.

`python -m pixl enqueue` -> retrieve from the simulated VNA over DICOM (C-FIND, C-MOVE) ->
built-in DICOM cache -> anonymise -> upload to a folder, with real Celery workers on RabbitMQ
(a fresh virtual host), records in PostgreSQL (a fresh database) and the archive limit in
Redis (DB 10). The limits are set far above what 2 cores can do (`pixl rate primary 1000
--concurrent 20`, Celery rate limit 1000/s per worker) so that they are not the bottleneck.

Prints studies/s end to end (enqueue start to every record final), the enqueue time, queue
depths, record states, RSS and CPU of every process over time, the RSS of each process at
start and end, the final counts, and warnings and errors found in the logs. Reference: the
CPU the run used against the CPU the machine had (1.0 = every core busy all the time).

The synthetic cohort (DX/CR, one series, `demo-xray` project: `min_instances_per_series: 1`)
is written once under `--cache-root`, keyed by its parameters, and reused. Everything
started is stopped at the end, also on Ctrl-C or failure: workers, archive, cache, the
virtual host, the database, Redis DB 10. Logs stay in the run folder it prints.

    python benchmarks/bench_soak.py [--studies 10000] [--instances 1] [--size 16]
        [--retrieve-workers 1] [--retrieve-concurrency 4]
        [--process-workers 1] [--process-concurrency 2] [--sample-seconds 10]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import psycopg2
import redis
from sqlalchemy import func, select

from pixl.demo import REPO_PROJECTS, PlannedStudy, seed_secrets, write_inputs
from pixl.local_stack import LocalStack, WorkerGroup
from pixl.records import Study, StudyStatus, migrate, session_scope
from pixl.settings import get_settings
from pixl.synthetic import random_specs

PROJECT = "demo-xray"  # DX and CR, min_instances_per_series: 1, folder destination
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}
REDIS_URL = "redis://127.0.0.1:6379/10"
QUEUES = ("primary", "anonymise", "upload")  # sampled over time
TOTALS = ("other", "machine")  # CPU columns after the processes'
TASK_QUEUES = ("primary", "secondary", "anonymise", "upload", "housekeeping", "dead-letter")
FINAL = tuple(s for s in StudyStatus if s.is_final)
# The servers' oldest process of this name, with its descendants (not a `rabbitmqctl` run).
SERVICES = {"rabbitmq": "beam.smp", "postgres": "postgres", "redis": "redis-server"}
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024


# --- the cohort, generated once ----------------------------------------------------------


def cohort_folder(args: argparse.Namespace) -> Path:
    key = f"studies{args.studies}-inst{args.instances}-size{args.size}-seed{args.seed}"
    return Path(args.cache_root) / key


def prepare_cohort(folder: Path, studies: int, instances: int, size: int, seed: int) -> None:
    """`folder/vna/<study UID>/*.dcm` and `folder/cohort.csv`, unless already complete."""
    if (folder / "complete").exists():
        print(f"cohort: reusing {folder}")
        return
    started = time.monotonic()
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    specs = random_specs(studies, seed=seed, modalities=("DX", "CR"))
    planned = [
        PlannedStudy(
            dataclasses.replace(
                spec, series_count=1, instances_per_series=instances, rows=size, columns=size
            ),
            PROJECT,
            held_by="vna",
            by_accession_only=False,
        )
        for spec in specs
    ]
    write_inputs(planned, LocalStack(partial), partial / "cohort.csv")
    (partial / "complete").write_text(f"{studies} studies\n")
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    print(f"cohort: wrote {folder} in {time.monotonic() - started:.0f} s")


# --- servers: our own virtual host, database and Redis DB ---------------------------------


def _rabbitmqctl(*args: str, check: bool = True) -> str:
    result = subprocess.run(
        ["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=60, check=check
    )
    return result.stdout


def _postgres(statement: str) -> None:
    connection = psycopg2.connect(**POSTGRES)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


@dataclass
class Servers:
    """A RabbitMQ virtual host and a PostgreSQL database of this run, and Redis DB 10."""

    name: str
    vhost: str | None = None
    database: str | None = None

    def create(self) -> dict[str, str]:
        self.vhost = self.name
        _rabbitmqctl("add_vhost", self.vhost)
        _rabbitmqctl("set_permissions", "-p", self.vhost, "guest", ".*", ".*", ".*")
        self.database = self.name.replace("-", "_")
        _postgres(f'CREATE DATABASE "{self.database}"')
        redis.Redis.from_url(REDIS_URL).flushdb()
        return {
            "PIXL_BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{self.vhost}",
            "PIXL_DATABASE_URL": f"postgresql+psycopg2://postgres@127.0.0.1:5432/{self.database}",
            "PIXL_REDIS_URL": REDIS_URL,
        }

    def remove(self) -> None:
        """Each step on its own, so one failure does not leave the others behind."""
        steps: list[tuple[str, Callable[[], object]]] = [
            ("flush Redis DB 10", lambda: redis.Redis.from_url(REDIS_URL).flushdb())
        ]
        if self.vhost:
            vhost = self.vhost
            steps.append((f"delete vhost {vhost}", lambda: _rabbitmqctl("delete_vhost", vhost)))
        if self.database:
            drop = f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)'
            steps.append((f"drop database {self.database}", lambda: _postgres(drop)))
        for what, step in steps:
            try:
                step()
            except Exception as exc:  # report and go on: the rest must still be removed
                print(f"cleanup: could not {what}: {exc}", file=sys.stderr)


def queue_depths(vhost: str) -> dict[str, tuple[int, int]]:
    """Queue -> (messages ready, messages unacknowledged); empty if rabbitmqctl failed."""
    try:
        out = _rabbitmqctl(
            "--no-table-headers",
            "list_queues",
            "-p",
            vhost,
            "name",
            "messages_ready",
            "messages_unacknowledged",
        )
    except (subprocess.SubprocessError, OSError):
        return {}
    depths = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            depths[parts[0]] = (int(parts[1]), int(parts[2]))
    return depths


# --- processes: RSS and CPU from /proc ----------------------------------------------------


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    comm: str
    rss: int  # bytes (VmRSS)
    cpu: float  # seconds, its own plus its waited-for children's
    started: int  # clock ticks after boot


def read_proc(pid: int) -> Proc | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    rss = int(fields[21]) * PAGE_SIZE
    return Proc(pid, int(fields[1]), comm, rss, ticks / CLOCK_TICKS, int(fields[19]))


def all_procs() -> dict[int, Proc]:
    procs = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (proc := read_proc(int(entry.name))) is not None:
            procs[proc.pid] = proc
    return procs


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (`/proc/stat`, not idle nor iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLOCK_TICKS


def pss(pid: int) -> int:
    """Proportional set size in bytes: shared pages (a prefork pool's) counted once in total."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class Group:
    """A process and its descendants at one moment."""

    main: Proc | None
    children: list[Proc]
    pss: int = 0  # of every process of the group; measured for pixl's processes only

    @property
    def rss(self) -> int:
        return sum(p.rss for p in self.procs)

    @property
    def cpu(self) -> float:
        return sum(p.cpu for p in self.procs)

    @property
    def procs(self) -> list[Proc]:
        return ([self.main] if self.main else []) + self.children


def _descendants(pid: int, procs: dict[int, Proc]) -> list[Proc]:
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for proc in procs.values():
            if proc.ppid == parent:
                found.append(proc)
                todo.append(proc.pid)
    return found


@dataclass
class Snapshot:
    at: float  # time.monotonic()
    groups: dict[str, Group]
    machine_cpu: float


def cpu_used(before: Snapshot, after: Snapshot, name: str) -> float:
    """CPU seconds between two snapshots of a group, of the machine, or of every process
    outside the groups ("other": another user of the machine disturbs the measurement)."""
    machine = after.machine_cpu - before.machine_cpu
    if name == "machine":
        return machine
    if name == "other":
        return machine - sum(cpu_used(before, after, group) for group in after.groups)
    return after.groups[name].cpu - before.groups[name].cpu


def service_roots() -> dict[str, int]:
    """The main process of each server running on this machine."""
    procs = all_procs().values()
    roots = {}
    for name, comm in SERVICES.items():
        found = sorted((p.started, p.pid) for p in procs if p.comm == comm)
        if found:
            roots[name] = found[0][1]
    return roots


def snapshot(roots: dict[str, int], servers: dict[str, int]) -> Snapshot:
    """Each started process and each server with its descendants (PSS for ours only), and
    this script with the commands it runs (enqueue, rabbitmqctl; their CPU stays counted
    here once they have exited)."""
    procs = all_procs()
    groups = {}
    for name, pid in (roots | servers).items():
        group = Group(procs.get(pid), _descendants(pid, procs))
        if name in roots:
            group.pss = sum(pss(p.pid) for p in group.procs)
        groups[name] = group
    ours = {p.pid for group in groups.values() for p in group.procs}
    helpers = [p for p in _descendants(os.getpid(), procs) if p.pid not in ours]
    groups["bench"] = Group(procs.get(os.getpid()), helpers)
    return Snapshot(time.monotonic(), groups, machine_busy_seconds())


# --- records ------------------------------------------------------------------------------


def status_counts() -> Counter[str]:
    with session_scope() as session:
        rows = session.execute(select(Study.status, func.count()).group_by(Study.status))
        return Counter({status.value: n for status, n in rows})


@dataclass
class Timeline:
    """Per study, seconds after the enqueue started at which each step was recorded."""

    retrieved: list[float] = field(default_factory=list)
    anonymised: list[float] = field(default_factory=list)
    exported: list[float] = field(default_factory=list)
    last_update: float = 0.0
    stage_seconds: dict[str, list[float]] = field(default_factory=dict)


def timeline(start: datetime) -> Timeline:
    result = Timeline(stage_seconds={"queued->retrieved": [], "retrieved->anonymised": []})
    result.stage_seconds |= {"anonymised->exported": [], "queued->exported": []}
    with session_scope() as session:
        rows = session.execute(
            select(
                Study.queued_at,
                Study.retrieved_at,
                Study.anonymised_at,
                Study.exported_at,
                Study.updated_at,
            )
        )
        for queued, retrieved, anonymised, exported, updated in rows:
            result.last_update = max(result.last_update, (updated - start).total_seconds())
            steps = [("retrieved", retrieved), ("anonymised", anonymised), ("exported", exported)]
            for name, at in steps:
                if at is not None:
                    getattr(result, name).append((at - start).total_seconds())
            pairs = [
                ("queued->retrieved", queued, retrieved),
                ("retrieved->anonymised", retrieved, anonymised),
                ("anonymised->exported", anonymised, exported),
                ("queued->exported", queued, exported),
            ]
            for name, begin, end in pairs:
                if begin is not None and end is not None:
                    result.stage_seconds[name].append((end - begin).total_seconds())
    return result


# --- logs ---------------------------------------------------------------------------------

PROBLEM = re.compile(r"\b(WARNING|ERROR|CRITICAL|Traceback)\b|Exception|Error:")
_NOISE = re.compile(r"^\[[^\]]*?:|^\S+ \S+ |\b[0-9a-f]{8}-[0-9a-f-]{27}\b|\d+")


def scan_logs(folder: Path, examples: int = 4) -> list[str]:
    """Per log file: how many problem lines, and the most frequent kinds with an example."""
    lines = []
    for log in sorted(folder.glob("*.log")):
        kinds: Counter[str] = Counter()
        first: dict[str, str] = {}
        with log.open(errors="replace") as handle:
            for line in handle:
                if PROBLEM.search(line):
                    kind = _NOISE.sub("#", line.strip())[:120]
                    kinds[kind] += 1
                    first.setdefault(kind, line.strip()[:240])
        total = sum(kinds.values())
        lines.append(f"  {log.name}: {total} warning/error lines")
        for kind, n in kinds.most_common(examples):
            lines.append(f"    {n:>6} x {first[kind]}")
    return lines


# --- the run ------------------------------------------------------------------------------


def _mib(value: int) -> str:
    return f"{value / MIB:.0f}"


def _short(name: str) -> str:
    return name.removeprefix("worker-")[:8]


def _pct(values: Sequence[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


class Interrupted(Exception):
    """SIGTERM or SIGHUP: stop like Ctrl-C does."""


def _raise_interrupted(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


@dataclass
class Soak:
    args: argparse.Namespace
    workdir: Path
    stack: LocalStack
    servers: Servers
    samples: list[tuple[Snapshot, Counter[str], dict[str, tuple[int, int]]]] = field(
        default_factory=list
    )
    enqueue: subprocess.Popen[bytes] | None = None
    server_pids: dict[str, int] = field(default_factory=dict)

    def start(self, cohort: Path) -> None:
        (self.workdir / "vna").symlink_to(cohort / "vna", target_is_directory=True)
        extra = self.servers.create()
        extra |= {
            "PIXL_RETRIEVE_RATE_LIMIT": self.args.celery_rate_limit,
            "PIXL_DICOM_TIMEOUT_SECONDS": "30",  # as deployed; LocalStack's 10 s is for tests
        }
        self.stack.extra_env = extra
        os.environ.update(self.stack.configure())
        get_settings.cache_clear()
        migrate()
        seed_secrets({PROJECT})
        rate = self._cli("rate", "primary", self.args.rate, "--concurrent", self.args.concurrent)
        print(f"throttle: {rate.strip()}; Celery rate_limit {self.args.celery_rate_limit}")
        started = time.monotonic()
        self.stack.start()
        self._wait_for_workers()
        self.server_pids = service_roots()
        print(f"stack: archive, cache and workers ready in {time.monotonic() - started:.1f} s")

    def _cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "pixl", *args],
            env=os.environ | self.stack.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"pixl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    def _wait_for_workers(self, timeout: float = 120.0) -> None:
        logs = [self.stack.logs / f"worker-{group.name}.log" for group in self.stack.workers]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.stack.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with code {process.returncode}")
            if all(log.exists() and " ready." in log.read_text(errors="replace") for log in logs):
                return
            time.sleep(0.5)
        raise RuntimeError(f"workers not ready within {timeout:.0f} s; see {self.stack.logs}")

    @property
    def roots(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.stack.processes.items()}

    def sample(self, elapsed: float, counts: Counter[str]) -> None:
        assert self.servers.vhost is not None
        depths = queue_depths(self.servers.vhost)
        now = snapshot(self.roots, self.server_pids)
        self.samples.append((now, counts, depths))
        print(self._row(elapsed, now, counts, depths), flush=True)

    def _header(self) -> str:
        queues = " ".join(f"{q[:9]:>13}" for q in QUEUES)
        cpu = " ".join(f"{_short(name):>8}" for name in [*self._cpu_columns(), *TOTALS])
        pss = "/".join(_short(name) for name in self.roots)
        return (
            f"{'t (s)':>6} {'waiting':>7} {'retr':>5} {'anon':>5} {'final':>6} {queues}"
            f"  | CPU% {cpu}  | PSS MiB {pss}"
        )

    def _cpu_columns(self) -> list[str]:
        return [*self.roots, *self.server_pids, "bench"]

    def _row(
        self,
        elapsed: float,
        now: Snapshot,
        counts: Counter[str],
        depths: dict[str, tuple[int, int]],
    ) -> str:
        waiting = counts["pending"] + counts["queued"]
        final = sum(counts[s.value] for s in FINAL)
        queues = " ".join(
            f"{'{}/{}'.format(*depths[q]) if q in depths else '?':>13}" for q in QUEUES
        )
        previous = self.samples[-2][0] if len(self.samples) > 1 else None
        cpu = []
        for name in [*self._cpu_columns(), *TOTALS]:
            if previous is None:
                cpu.append(f"{'-':>8}")
            else:
                used = cpu_used(previous, now, name)
                cpu.append(f"{100 * used / (now.at - previous.at):>8.0f}")
        memory = "/".join(_mib(now.groups[name].pss) for name in self.roots)
        return (
            f"{elapsed:>6.0f} {waiting:>7} {counts['retrieved']:>5} {counts['anonymised']:>5} "
            f"{final:>6} {queues}  |      {' '.join(cpu)}  |         {memory}"
        )

    def run(self, cohort_csv: Path) -> int:
        """Enqueue, follow until every record is final (or nothing moves), then report."""
        total = self.args.studies
        print(
            "\nQueues: ready/unacked (rabbitmqctl). CPU% of one core over the last interval; "
            "worker groups include their pool processes."
        )
        print(self._header())
        self.sample(0.0, Counter())
        start_wall = datetime.now(UTC)
        start = time.monotonic()
        log = (self.stack.logs / "enqueue.log").open("wb")
        self.enqueue = subprocess.Popen(
            [sys.executable, "-m", "pixl", "enqueue", str(cohort_csv)],
            env=os.environ | self.stack.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        enqueue_seconds: float | None = None
        next_sample = start + self.args.sample_seconds
        last_change, last_counts = start, Counter[str]()
        while True:
            now = time.monotonic()
            if enqueue_seconds is None and self.enqueue.poll() is not None:
                enqueue_seconds = now - start
                if self.enqueue.returncode != 0:
                    tail = (self.stack.logs / "enqueue.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"enqueue failed ({self.enqueue.returncode}):\n{tail}")
            counts = status_counts()
            if counts != last_counts:
                last_change, last_counts = now, counts
            final = sum(counts[s.value] for s in FINAL)
            if enqueue_seconds is not None and final >= total:
                break
            if now - last_change > self.args.stall_seconds:
                print(f"\nSTALLED: no record changed state for {self.args.stall_seconds:.0f} s")
                break
            for name, process in self.stack.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with code {process.returncode}")
            if now >= next_sample:
                self.sample(now - start, counts)
                next_sample += self.args.sample_seconds
            time.sleep(0.5)
        self.sample(time.monotonic() - start, counts)
        return self.report(start_wall, enqueue_seconds, counts)

    def report(
        self, start_wall: datetime, enqueue_seconds: float | None, counts: Counter[str]
    ) -> int:
        total = self.args.studies
        line = timeline(start_wall)
        exported = sorted(line.exported)
        end_to_end = line.last_update
        print("\n=== Soak result ===")
        print(
            f"cohort: {total} studies x {self.args.instances} instance(s) of "
            f"{self.args.size}x{self.args.size} ({PROJECT}); workers: "
            f"{self.args.retrieve_workers} retrieve x concurrency {self.args.retrieve_concurrency}"
            f", {self.args.process_workers} anonymise+upload x concurrency "
            f"{self.args.process_concurrency}; {os.cpu_count()} cores"
        )
        if enqueue_seconds is not None:
            print(
                f"enqueue: {enqueue_seconds:.1f} s for {total} studies "
                f"({total / enqueue_seconds:.0f} studies/s, `python -m pixl enqueue`, "
                "including interpreter start)"
            )
        print(
            f"end to end: {end_to_end:.1f} s, {len(exported)} exported: "
            f"{len(exported) / end_to_end:.2f} studies/s "
            f"({len(exported) * self.args.instances / end_to_end:.1f} instances/s)"
        )
        if len(exported) >= 10:
            t10, t90 = exported[len(exported) // 10], exported[len(exported) * 9 // 10]
            steady = 0.8 * len(exported) / (t90 - t10)
            print(f"steady state (10% to 90% of exports): {steady:.2f} studies/s")
        for name, values in (
            ("retrieved", line.retrieved),
            ("anonymised", line.anonymised),
            ("exported", line.exported),
        ):
            if values:
                print(f"  last {name:<10} at {max(values):8.1f} s (first at {min(values):.1f} s)")
        print("time per study in each step (s, includes waiting in the next queue):")
        for name, values in line.stage_seconds.items():
            if values:
                print(
                    f"  {name:<22} p50 {_pct(values, 50):8.2f}  p95 {_pct(values, 95):8.2f}  "
                    f"max {max(values):8.2f}"
                )
        self._report_queue_peaks()
        self._report_processes()
        self._report_counts(counts)
        print("\nworker, archive and cache logs:")
        for text in scan_logs(self.stack.logs):
            print(text)
        exported_all = counts["exported"] == total
        print(f"\n{'OK' if exported_all else 'NOT OK'}: {counts['exported']} of {total} exported")
        return 0 if exported_all else 1

    def _report_queue_peaks(self) -> None:
        start = self.samples[0][0].at
        peaks = []
        for queue in QUEUES:
            held = [(sum(d[queue]), s.at - start) for s, _, d in self.samples if queue in d]
            if held:
                most, at = max(held, key=lambda item: item[0])
                peaks.append(f"{queue} {most} at {at:.0f} s")
        print("queue peaks (ready + unacked): " + ", ".join(peaks))

    def _report_processes(self) -> None:
        first, last = self.samples[0][0], self.samples[-1][0]  # [0]: just before the enqueue
        span = last.at - first.at
        print(
            f"\nprocesses over the {span:.0f} s run: RSS MiB start -> end (peak), PSS MiB start "
            "-> end (shared pages counted once), CPU s, mean and busiest-interval % of a core"
        )
        pixl_cpu = 0.0
        for name in self._cpu_columns():
            before, after = first.groups[name], last.groups[name]
            used = cpu_used(first, last, name)
            pixl_cpu += used if name in self.roots else 0.0
            peak = max(sample[0].groups[name].rss for sample in self.samples)
            busiest = max(
                cpu_used(a, b, name) / (b.at - a.at)
                for (a, _, _), (b, _, _) in zip(self.samples, self.samples[1:], strict=False)
            )
            memory = f"RSS {_mib(before.rss):>5} -> {_mib(after.rss):>5} ({_mib(peak):>5})"
            if name in self.roots:
                memory += f"  PSS {_mib(before.pss):>4} -> {_mib(after.pss):>4}"
            print(
                f"  {name:<18} {memory:<40} CPU {used:7.1f} s {100 * used / span:4.0f}% "
                f"(max {100 * busiest:3.0f}%)"
            )
            if name in self.roots and before.main and after.main and before.children:
                pool_before = ", ".join(_mib(p.rss) for p in before.children)
                pool_after = ", ".join(_mib(p.rss) for p in after.children)
                replaced = len({p.pid for p in before.children} - {p.pid for p in after.children})
                print(
                    f"  {'':<18}   main RSS {_mib(before.main.rss)} -> {_mib(after.main.rss)}; "
                    f"pool RSS [{pool_before}] -> [{pool_after}], {replaced} pool process(es) "
                    "replaced"
                )
        machine = cpu_used(first, last, "machine")
        cores = os.cpu_count() or 1
        print(
            f"  machine: {machine:.0f} CPU s busy of {cores * span:.0f} available "
            f"(ratio {machine / (cores * span):.2f}); pixl's processes {pixl_cpu:.0f} s, "
            f"processes outside this run {cpu_used(first, last, 'other'):.0f} s"
        )

    def _report_counts(self, counts: Counter[str]) -> None:
        from pixl.status import extract_statuses, render

        print("\nfinal records (python -m pixl status):")
        print(render(extract_statuses()))
        output = get_settings().output_dir
        assert output is not None
        delivered = (
            sum(1 for _ in (output / PROJECT).iterdir()) if (output / PROJECT).is_dir() else 0
        )
        print(f"delivered study folders on disk: {delivered}")
        depths = queue_depths(self.servers.vhost or "")
        print(
            "queues at the end (ready/unacked): "
            + ", ".join(f"{q} {r}/{u}" for q, (r, u) in depths.items() if q in TASK_QUEUES)
        )
        not_final = [s for s in counts if not StudyStatus(s).is_final]
        if not_final:
            with session_scope() as session:
                rows = session.execute(
                    select(Study.id, Study.status, Study.updated_at, Study.last_error)
                    .where(Study.status.not_in(FINAL))
                    .order_by(Study.updated_at)
                    .limit(10)
                )
                print("oldest studies not final:")
                for study_id, status, updated, error in rows:
                    print(
                        f"  study#{study_id} {status.value} since {updated:%H:%M:%S} {error or ''}"
                    )

    def stop(self) -> None:
        """Stop what was started, in order; never raise (this runs in `finally`)."""
        if self.enqueue is not None and self.enqueue.poll() is None:
            self.enqueue.terminate()
            self.enqueue.wait(10)
        self.stack.stop()
        for process in self.stack.processes.values():
            # Workers' pool processes share the worker's process group (new session).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        self.servers.remove()
        (self.workdir / "vna").unlink(missing_ok=True)
        if not self.args.keep:
            shutil.rmtree(self.workdir / "data", ignore_errors=True)
        print(f"stopped everything; logs in {self.stack.logs}", file=sys.stderr)


def _workers(args: argparse.Namespace) -> list[WorkerGroup]:
    groups = [
        WorkerGroup(f"retrieve{i + 1}", "primary,secondary", args.retrieve_concurrency)
        for i in range(args.retrieve_workers)
    ]
    groups += [
        WorkerGroup(f"process{i + 1}", "anonymise,upload", args.process_concurrency)
        for i in range(args.process_workers)
    ]
    return groups


def parse_args(argv: Iterable[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--studies", type=int, default=10_000)
    parser.add_argument("--instances", type=int, default=1, help="per study, one series")
    parser.add_argument("--size", type=int, default=16, help="rows and columns")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--retrieve-workers", type=int, default=1)
    parser.add_argument("--retrieve-concurrency", type=int, default=4)
    parser.add_argument("--process-workers", type=int, default=1)
    parser.add_argument("--process-concurrency", type=int, default=2)
    parser.add_argument("--rate", default="1000", help="cluster-wide studies/s of the VNA")
    parser.add_argument("--concurrent", default="20", help="cluster-wide transfers at once")
    parser.add_argument("--celery-rate-limit", default="1000/s", help="per retrieve worker")
    parser.add_argument("--sample-seconds", type=float, default=10.0)
    parser.add_argument(
        "--stall-seconds", type=float, default=300.0, help="give up when nothing moves this long"
    )
    parser.add_argument("--cache-root", type=Path, default=Path("/tmp/pixl-soak-cache"))
    parser.add_argument("--workdir-root", type=Path, default=Path("/tmp"))
    parser.add_argument("--keep", action="store_true", help="keep the cache, staging, output")
    return parser.parse_args(None if argv is None else list(argv))


def main() -> int:
    args = parse_args()
    cohort = cohort_folder(args)
    prepare_cohort(cohort, args.studies, args.instances, args.size, args.seed)
    name = f"pixl-soak-{uuid.uuid4().hex[:8]}"
    workdir = args.workdir_root / name
    workdir.mkdir(parents=True)
    stack = LocalStack(workdir, with_pacs=False, workers=_workers(args), projects_dir=REPO_PROJECTS)
    soak = Soak(args, workdir, stack, Servers(name))
    # Ctrl-C raises KeyboardInterrupt even when started from a shell that ignores SIGINT
    # for background jobs; SIGTERM and SIGHUP stop the run the same way.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _raise_interrupted)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"run: {workdir}, vhost and database {name}, Redis DB 10")
    try:
        soak.start(cohort)
        return soak.run(cohort / "cohort.csv")
    except (KeyboardInterrupt, Interrupted) as exc:
        print(f"\ninterrupted by {exc or 'SIGINT'}; stopping", file=sys.stderr)
        return 130
    finally:
        # A second Ctrl-C or SIGTERM must not cut the clean-up short.
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        soak.stop()


if __name__ == "__main__":
    sys.exit(main())
