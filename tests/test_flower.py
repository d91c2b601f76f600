"""`python -m pixl flower`: refuses to start without authentication, and with it serves the
dashboard only to users who log in (health checks stay open for monitoring)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import requests

from pixl.local_stack import free_port, stop_process


def test_flower_refuses_to_run_without_authentication(rabbitmq_vhost: str) -> None:
    env = os.environ | {"PIXL_BROKER_URL": rabbitmq_vhost}
    env.pop("PIXL_FLOWER_BASIC_AUTH", None)
    result = subprocess.run(
        [sys.executable, "-m", "pixl", "flower"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "PIXL_FLOWER_BASIC_AUTH" in result.stderr


def test_flower_requires_a_login_and_lists_pixl_workers(rabbitmq_vhost: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    env = os.environ | {
        "PIXL_BROKER_URL": rabbitmq_vhost,
        "PIXL_DATA_DIR": str(tmp_path),
        "PIXL_FLOWER_BASIC_AUTH": "research:s3cret",
    }
    flower = subprocess.Popen(
        [sys.executable, "-m", "pixl", "flower", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "pixl", "worker", "--queues", "anonymise", "--name", "flowercheck",
         "--concurrency", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{base}/healthcheck", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        assert requests.get(f"{base}/healthcheck", timeout=5).text == "OK"
        assert requests.get(f"{base}/api/workers", timeout=5).status_code == 401
        assert requests.get(f"{base}/", auth=("research", "wrong"), timeout=5).status_code == 401
        workers: dict[str, object] = {}
        while time.monotonic() < deadline and not workers:
            answer = requests.get(
                f"{base}/api/workers?refresh=1", auth=("research", "s3cret"), timeout=10
            )
            assert answer.status_code == 200
            workers = answer.json()
            time.sleep(1)
        assert any(name.startswith("flowercheck@") for name in workers)
    finally:
        stop_process(worker)
        stop_process(flower)
