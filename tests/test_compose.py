"""compose.yaml cannot run here (no Docker engine), so it is checked for what can be:
it parses, names every service the README lists, and every pixl command in it is one the
CLI accepts, consuming queues that celeryconfig declares."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

import celeryconfig
from pixl.__main__ import build_parser

ROOT = Path(__file__).resolve().parents[1]


def load_compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_compose_names_every_service_the_readme_lists() -> None:
    services = set(load_compose()["services"])
    section = (ROOT / "README.md").read_text().split("## Operating pixl", 1)[1]
    listed = set(re.findall(r"^\| `([a-z-]+)` \|", section, flags=re.MULTILINE))
    assert listed, "the README's operations section lists no compose services"
    assert listed == services


def test_every_pixl_command_in_compose_is_accepted_by_the_cli() -> None:
    parser = build_parser()
    declared = {queue.name for queue in celeryconfig.task_queues}
    consumed: set[str] = set()
    for name, service in load_compose()["services"].items():
        if service.get("image") != "pixl:latest":
            continue
        args = parser.parse_args(service["command"])
        if args.command == "worker":
            queues = set(args.queues.split(","))
            assert queues <= declared, f"{name} consumes undeclared queues {queues - declared}"
            consumed |= queues
    assert consumed == declared - {"dead-letter"}


def test_stateful_services_keep_their_data_in_volumes_and_have_healthchecks() -> None:
    services = load_compose()["services"]
    for name in ("rabbitmq", "redis", "postgres", "orthanc-raw"):
        assert services[name].get("volumes"), f"{name} has no volume"
        assert "healthcheck" in services[name], f"{name} has no healthcheck"
