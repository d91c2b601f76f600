"""An archive's limits, held in Redis so every worker sees a change at once.

Persistence: Redis is the source of truth, so production Redis must persist its data
(`appendonly yes`, `appendfsync everysec`, or at least RDB snapshots) for the limits to be
remembered across a Redis restart. As a second line, `set_limits` can write through to a
small JSON file (`PIXL_DATA_DIR/limits.json`), and `get_limits` / `ArchiveLimiter` restore an
archive's limits from that file when Redis no longer has them. Restoring never overwrites
limits that are in Redis: Redis wins whenever it holds a value. Point every process at the
same file (a shared data folder) or accept that only hosts where the CLI ran hold a copy.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from redis import Redis
from redis.typing import EncodableT, FieldT

from pixl.constants import LIMITS_PREFIX, WAKE_PREFIX
from pixl.throttle.errors import LimitsError

DEFAULT_MAX_CONCURRENT = 5
DEFAULT_RATE_PER_SECOND = 5.0
LIMITS_FILE_NAME = "limits.json"

# Sets the limits only if Redis has none for the archive (a restore must not undo a change
# made since the file was written); returns whether it wrote.
_RESTORE_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
redis.call('PUBLISH', KEYS[2], 'limits')
return 1
"""


@dataclass(frozen=True)
class Limits:
    """At most `max_concurrent` transfers and `rate_per_second` tokens per second.

    `burst` is the token bucket's size; None means max(1, rate). Rate 0 pauses the archive.
    """

    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    rate_per_second: float = DEFAULT_RATE_PER_SECOND
    burst: float | None = None

    @property
    def paused(self) -> bool:
        return self.rate_per_second <= 0

    @property
    def bucket_size(self) -> float:
        return self.burst if self.burst else max(1.0, self.rate_per_second)

    def describe(self) -> str:
        """One line for people: `max 5 concurrent transfers, 5/s (burst 5)`."""
        rate = "PAUSED (rate 0)" if self.paused else f"{self.rate_per_second:g}/s"
        burst = "" if self.paused else f" (burst {self.bucket_size:g})"
        return f"{rate}{burst}, max {self.max_concurrent} concurrent transfers"


def limits_key(archive: str) -> str:
    return f"{LIMITS_PREFIX}{archive}"


def wake_channel(archive: str) -> str:
    return f"{WAKE_PREFIX}{archive}"


def get_limits(redis: Redis, archive: str, *, limits_file: Path | None = None) -> Limits:
    """The archive's limits: from Redis, else restored from `limits_file`, else defaults."""
    stored = redis.hgetall(limits_key(archive))
    if not stored and limits_file is not None:
        restore_limits(redis, archive, limits_file)
        stored = redis.hgetall(limits_key(archive))
    return _from_hash(stored)


def set_limits(
    redis: Redis,
    archive: str,
    max_concurrent: int | None = None,
    rate_per_second: float | None = None,
    *,
    burst: float | None = None,
    limits_file: Path | None = None,
) -> Limits:
    """Change what is given, leave the rest; wake every waiter; return the new limits.

    `rate_per_second=0` pauses the archive. `burst=0` goes back to the default, max(1, rate).
    """
    fields: dict[FieldT, EncodableT] = {"updated_at": f"{time.time():.3f}"}
    if max_concurrent is not None:
        if isinstance(max_concurrent, bool) or max_concurrent < 1:
            raise LimitsError(f"max_concurrent must be a whole number >= 1, not {max_concurrent}")
        fields["max_concurrent"] = str(int(max_concurrent))
    if rate_per_second is not None:
        fields["rate_per_second"] = repr(_non_negative("rate_per_second", rate_per_second))
    if burst is not None:
        fields["burst"] = repr(_non_negative("burst", burst))
    key = limits_key(archive)
    if limits_file is not None:
        restore_limits(redis, archive, limits_file)  # keep what Redis lost and this leaves
    pipe = redis.pipeline(transaction=True)
    pipe.hset(key, mapping=fields)
    pipe.hgetall(key)
    pipe.publish(wake_channel(archive), "limits")
    limits = _from_hash(pipe.execute()[1])
    if limits_file is not None:
        _write_file(limits_file, archive, limits)
    return limits


def restore_limits(redis: Redis, archive: str, limits_file: Path) -> bool:
    """Put the archive's limits from `limits_file` back into Redis if Redis has none."""
    saved = _read_file(limits_file).get(archive)
    if not isinstance(saved, dict):
        return False
    try:
        limits = Limits(
            max_concurrent=int(saved["max_concurrent"]),
            rate_per_second=float(saved["rate_per_second"]),
            burst=None if saved.get("burst") is None else float(saved["burst"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise LimitsError(f"{limits_file}: bad entry for archive '{archive}': {exc}") from exc
    args = ["max_concurrent", str(limits.max_concurrent)]
    args += ["rate_per_second", repr(limits.rate_per_second), "updated_at", f"{time.time():.3f}"]
    if limits.burst is not None:
        args += ["burst", repr(limits.burst)]
    keys = [limits_key(archive), wake_channel(archive)]
    return bool(redis.eval(_RESTORE_SCRIPT, len(keys), *keys, *args))


def _non_negative(name: str, value: float) -> float:
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise LimitsError(f"{name} must be a finite number >= 0, not {value}")
    return number


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _from_hash(stored: Mapping[bytes | str, bytes | str]) -> Limits:
    fields = {_text(k): _text(v) for k, v in stored.items()}
    burst = float(fields.get("burst", "0"))
    return Limits(
        max_concurrent=int(fields.get("max_concurrent", DEFAULT_MAX_CONCURRENT)),
        rate_per_second=float(fields.get("rate_per_second", DEFAULT_RATE_PER_SECOND)),
        burst=burst or None,
    )


def _read_file(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise LimitsError(f"{path}: cannot read saved limits: {exc}") from exc
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise writers of the file on this host (two CLI runs at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _write_file(path: Path, archive: str, limits: Limits) -> None:
    """Replace the archive's entry atomically (temporary file, then rename)."""
    with _locked(path):
        data = _read_file(path)
        data[archive] = {**asdict(limits), "updated_at": time.time()}
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.replace(temporary, path)
