"""Command line: `python -m pixl COMMAND`. Thin: parse, call the plain modules, print."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from pixl.errors import PixlError
from pixl.settings import get_settings


@contextmanager
def _publisher() -> Iterator[Callable[[int, int], None]]:
    """Publish study chains over one broker connection, queues declared first."""
    from pixl.records import migrate
    from pixl.tasks import app, declare_topology, study_chain

    migrate()
    declare_topology()
    with app.producer_or_acquire() as producer:

        def publish(study_id: int, priority: int) -> None:
            study_chain(study_id, priority).apply_async(producer=producer)

        yield publish


def _enqueue(args: argparse.Namespace) -> int:
    from pixl.enqueue import enqueue, load_and_validate

    settings = get_settings()
    # Validate the whole file before touching the broker or the records.
    cohort = load_and_validate(args.path, settings)
    if args.dry_run:
        summary = enqueue(cohort, settings, publish=lambda *_: None, dry_run=True)
    else:
        with _publisher() as publish:

            def progress(done: int, total: int) -> None:
                print(f"\r  {done}/{total} rows", end="", file=sys.stderr, flush=True)

            summary = enqueue(cohort, settings, publish, progress=progress)
            print(file=sys.stderr)
    for line in summary.skipped_rows:
        print(f"skipped: {line}")
    verb = "would enqueue" if summary.dry_run else "enqueued"
    for e in summary.extracts:
        extra = ""
        if e.already_exported or e.already_known:
            extra = f" ({e.already_exported} already exported, {e.already_known} already queued)"
        print(f"{e.project_slug} {e.extract_datetime.isoformat()}: {verb} {e.published}{extra}")
    print(
        f"total: {verb} {summary.published} of {summary.jobs} studies; "
        f"{len(summary.skipped_rows)} rows skipped, {summary.duplicates} duplicates dropped"
    )
    return 0


def _status(args: argparse.Namespace) -> int:
    from pixl.records import migrate
    from pixl.status import archive_lines, extract_statuses, render

    migrate()
    statuses = extract_statuses()
    if args.json:
        print(json.dumps([s.as_dict() for s in statuses], indent=2))
        return 0
    print(render(statuses))
    from datetime import UTC

    from pixl import components
    from pixl.tasks.pacs_gate import pacs_hours

    hours, now = pacs_hours(), datetime.now(UTC)
    limits = [components.limiter(name).snapshot() for name in ("vna", "pacs")]
    print()
    print("\n".join(archive_lines(hours.is_open(now), hours.seconds_until_open(now), limits)))
    return 0


def _worker(args: argparse.Namespace) -> int:
    from pixl.tasks import app

    settings = get_settings()
    concurrency = args.concurrency or settings.max_messages_in_flight
    argv = [
        "worker",
        f"--queues={args.queues}",
        f"--concurrency={concurrency}",
        "--prefetch-multiplier=1",
        f"--hostname={args.name}@%h",
        f"--loglevel={args.loglevel}",
        "--pool=prefork",
    ]
    app.worker_main(argv)
    return 0


def _retry(args: argparse.Namespace) -> int:
    from pixl.records import StudyStatus
    from pixl.retry import retry_studies

    statuses = [StudyStatus(value) for value in args.status]
    with _publisher() as publish:
        count = retry_studies(publish, args.project, args.extract, args.reason, statuses)
    print(f"re-enqueued {count} studies")
    return 0


def _flower(args: argparse.Namespace) -> int:
    from pixl.tasks import app

    auth = os.environ.get("PIXL_FLOWER_BASIC_AUTH")
    if not auth:
        raise PixlError(
            "Flower needs PIXL_FLOWER_BASIC_AUTH=user:password (several separated by commas); "
            "pixl does not run its dashboard without authentication."
        )
    app.start(
        ["flower", f"--port={args.port}", f"--address={args.address}", f"--basic-auth={auth}"]
    )
    return 0


def _rate(args: argparse.Namespace) -> int:
    from pixl import components
    from pixl.throttle.cli import rate_command

    store = components.redis()
    if store is None:
        raise PixlError(
            "the cluster-wide rate lives in Redis: set PIXL_REDIS_URL (the embedded default "
            "has only Celery's per-worker rate limit, PIXL_RETRIEVE_RATE_LIMIT)"
        )
    limits_file = get_settings().data_dir / "limits.json"
    print(rate_command(store, args.queue, args.rate, args.concurrent, limits_file=limits_file))
    return 0


def _beat(args: argparse.Namespace) -> int:
    from pixl.tasks import app

    schedule = args.schedule_file or get_settings().data_dir / "celerybeat-schedule"
    schedule.parent.mkdir(parents=True, exist_ok=True)
    app.start(["beat", f"--schedule={schedule}", "--loglevel=INFO"])
    return 0


def _export(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from pixl.housekeeping import export_extract
    from pixl.records import Extract, migrate, session_scope

    migrate()
    with session_scope() as session:
        query = select(Extract.id, Extract.extract_datetime).where(
            Extract.project_slug == args.project
        )
        if args.extract:
            query = query.where(Extract.extract_datetime == args.extract)
        extracts = list(session.execute(query.order_by(Extract.extract_datetime.desc())))
    if not extracts:
        raise PixlError(f"no extract of project '{args.project}' is recorded; enqueue it first")
    extract_id, extract_datetime = extracts[0]
    for path in export_extract(extract_id):
        print(path)
    print(f"exported the parquet files of {args.project} {extract_datetime.isoformat()}")
    return 0


def _anonymise(args: argparse.Namespace) -> int:
    from pixl.anon.cli import anonymise_command
    from pixl.anon.config import load_project_config
    from pixl.secrets import HASH_KEY_SECRET, get_secret, project_salt_secret

    projects_dir = args.projects_dir or get_settings().projects_dir
    config = load_project_config(projects_dir, args.project)
    key = get_secret(HASH_KEY_SECRET).encode()
    salt = get_secret(project_salt_secret(config.alias)).encode()
    print(anonymise_command(projects_dir, args.project, args.inputs, args.output, key, salt))
    return 0


def _check_config(args: argparse.Namespace) -> int:
    from pixl.anon.cli import check_config_command

    projects_dir = args.projects_dir or get_settings().projects_dir
    code, text = check_config_command(projects_dir, args.target)
    print(text)
    return code


def _migrate(_: argparse.Namespace) -> int:
    from pixl.records import migrate

    migrate()
    print(f"records database at the newest schema: {get_settings().database_url}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from pixl.demo import run_demo

    return run_demo(workdir=args.workdir, studies=args.studies)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pixl", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    enqueue = commands.add_parser("enqueue", help="enqueue a cohort (CSV or OMOP ES extract)")
    enqueue.add_argument("path", type=Path)
    enqueue.add_argument("--dry-run", action="store_true", help="validate and count only")
    enqueue.set_defaults(func=_enqueue)

    status = commands.add_parser("status", help="per project and extract: where studies are")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_status)

    worker = commands.add_parser("worker", help="run a Celery worker for some queues")
    worker.add_argument("--queues", default="primary,secondary,anonymise,upload")
    worker.add_argument("--concurrency", type=int, default=0)
    worker.add_argument("--name", default="pixl")
    worker.add_argument("--loglevel", default="INFO")
    worker.set_defaults(func=_worker)

    rate = commands.add_parser(
        "rate", help="show or change an archive's cluster-wide limit (0 pauses it)"
    )
    rate.add_argument("queue", help="primary (the VNA) or secondary (the PACS)")
    rate.add_argument("rate", nargs="?", help="studies per second, e.g. 5, 0.5, 120/m, or 0")
    rate.add_argument("--concurrent", type=int, help="at most this many transfers at once")
    rate.set_defaults(func=_rate)

    retry = commands.add_parser("retry", help="re-enqueue failed studies")
    retry.add_argument("--project", help="project slug")
    retry.add_argument("--extract", type=datetime.fromisoformat, help="extract datetime")
    retry.add_argument("--reason", help="only studies whose last error contains this text")
    retry.add_argument(
        "--status", action="append", choices=["failed", "not_found"], default=None,
        help="which outcomes to retry (default: failed)",
    )  # fmt: skip
    retry.set_defaults(func=_retry)

    flower = commands.add_parser("flower", help="the Flower dashboard, with authentication")
    flower.add_argument("--port", type=int, default=5555)
    flower.add_argument("--address", default="127.0.0.1")
    flower.set_defaults(func=_flower)

    anonymise = commands.add_parser(
        "anonymise", help="de-identify local files with a project's rules, to preview them"
    )
    anonymise.add_argument("inputs", nargs="+", type=Path, help="DICOM files or folders")
    anonymise.add_argument("--project", required=True, help="project slug")
    anonymise.add_argument("--output", required=True, type=Path)
    anonymise.add_argument("--projects-dir", type=Path)
    anonymise.set_defaults(func=_anonymise)

    check = commands.add_parser("check-config", help="validate project configs")
    check.add_argument("target", nargs="?", help="a slug or a config file; default: all")
    check.add_argument("--projects-dir", type=Path)
    check.set_defaults(func=_check_config)

    beat = commands.add_parser("beat", help="Celery beat: scheduled exports, retries, clean-up")
    beat.add_argument("--schedule-file", type=Path, help="where beat keeps its last run times")
    beat.set_defaults(func=_beat)

    export = commands.add_parser("export", help="export an extract's parquet files now")
    export.add_argument("project", help="project slug")
    export.add_argument("--extract", type=datetime.fromisoformat, help="default: the newest")
    export.set_defaults(func=_export)

    migrate = commands.add_parser("migrate", help="apply the records' alembic migrations")
    migrate.set_defaults(func=_migrate)

    demo = commands.add_parser("demo", help="the whole job on the embedded default, end to end")
    demo.add_argument("--workdir", type=Path, default=Path("pixl-demo"))
    demo.add_argument("--studies", type=int, default=12)
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "status", None) is None and args.command == "retry":
        args.status = ["failed"]
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except PixlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
