"""The cluster-wide limit of one archive: transfer slots with leases, and a token bucket.

Every worker process on every machine shares the state in Redis:

- slots: a sorted set of holders scored by lease expiry. Acquiring first evicts expired
  leases, so a worker killed mid-transfer frees its slot after at most `lease_seconds`. A
  heartbeat thread renews the lease every `lease_seconds / 3` while the transfer runs.
- tokens: a bucket refilled at `rate_per_second`, up to `burst`.

Nobody busy-waits. A waiter subscribes to the archive's wake channel and blocks on it until
a slot is released, the limits change, the earliest lease or the bucket's refill is due, or
the timeout passes; a paused archive (rate 0) is re-checked only every `recheck_seconds`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from redis import Redis
from redis.client import PubSub

from pixl.constants import SLOTS_PREFIX, TOKENS_PREFIX
from pixl.throttle import scripts
from pixl.throttle.errors import ArchivePausedError, ThrottledError
from pixl.throttle.limits import (
    DEFAULT_MAX_CONCURRENT,
    DEFAULT_RATE_PER_SECOND,
    Limits,
    get_limits,
    limits_key,
    restore_limits,
    wake_channel,
)

log = logging.getLogger("pixl.throttle")

_PAUSED = -1


class TransferSlot:
    """One held transfer slot. `renew()` extends its lease; the context manager does it."""

    def __init__(self, limiter: ArchiveLimiter, holder: str) -> None:
        self.limiter = limiter
        self.holder = holder
        self.lost = False

    def renew(self) -> bool:
        """Extend the lease by `lease_seconds` from now. False (and `lost`) if it had expired
        and another worker may have taken the slot."""
        if self.limiter._renew(self.holder):
            return True
        self.lost = True
        return False

    def release(self) -> None:
        self.limiter._release(self.holder)


class _Heartbeat(threading.Thread):
    """Renews a slot's lease every `interval` seconds until stopped."""

    def __init__(self, slot: TransferSlot, interval: float) -> None:
        super().__init__(name=f"pixl-lease-{slot.holder}", daemon=True)
        self.slot = slot
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                if not self.slot.renew():
                    log.warning(
                        "throttle archive=%s holder=%s lease lost: the slot expired before renewal",
                        self.slot.limiter.archive,
                        self.slot.holder,
                    )
                    return
            except Exception:  # a Redis blip: the lease has slack for two more tries
                log.warning("throttle archive=%s lease renewal failed", self.slot.limiter.archive)

    def stop(self) -> None:
        self.stopped.set()
        self.join()


class ArchiveLimiter:
    """At most N concurrent transfers and R tokens per second for one archive, cluster-wide.

    The limits are read from Redis on every acquisition (see `pixl.throttle.limits`).
    """

    def __init__(
        self,
        redis: Redis,
        archive: str,
        *,
        lease_seconds: float = 60,
        limits_file: Path | None = None,
        recheck_seconds: float = 10.0,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be > 0, not {lease_seconds}")
        self.redis = redis
        self.archive = archive
        self.lease_seconds = lease_seconds
        self.limits_file = limits_file
        self.recheck_seconds = recheck_seconds
        self._slots_key = f"{SLOTS_PREFIX}{archive}"
        self._tokens_key = f"{TOKENS_PREFIX}{archive}"
        self._limits_key = limits_key(archive)
        self._channel = wake_channel(archive)
        self._defaults = (DEFAULT_MAX_CONCURRENT, DEFAULT_RATE_PER_SECOND)
        self._acquire = redis.register_script(scripts.ACQUIRE_SLOT)
        self._renew_script = redis.register_script(scripts.RENEW_SLOT)
        self._release_script = redis.register_script(scripts.RELEASE_SLOT)
        self._take = redis.register_script(scripts.TAKE_TOKENS)
        self._snapshot = redis.register_script(scripts.SNAPSHOT)
        # Restore from the file now, and again only if Redis is seen to lose the limits.
        if limits_file is not None:
            restore_limits(redis, archive, limits_file)
        self._stored = False

    @contextmanager
    def transfer(self, timeout: float, *, heartbeat: bool = True) -> Iterator[TransferSlot]:
        """Hold one transfer slot for the `with` block; raise ThrottledError after `timeout`.

        A heartbeat thread renews the lease every lease/3 unless `heartbeat=False`, in which
        case the caller renews with `slot.renew()` at least once per lease.
        """
        slot = self.acquire(timeout)
        beat = _Heartbeat(slot, self.lease_seconds / 3) if heartbeat else None
        if beat is not None:
            beat.start()
        try:
            yield slot
        finally:
            if beat is not None:
                beat.stop()
            slot.release()

    def acquire(self, timeout: float) -> TransferSlot:
        """Take a slot without a heartbeat; the caller renews and releases it."""
        holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        lease_ms = round(self.lease_seconds * 1000)
        keys = [self._slots_key, self._limits_key]
        self._wait("transfer slot", timeout, self._acquire, keys, [holder, lease_ms], "slot")
        return TransferSlot(self, holder)

    def take(self, n: int = 1, *, timeout: float) -> None:
        """Take `n` tokens (studies or images); raise ThrottledError after `timeout`.

        `n` larger than the bucket is granted once the bucket is full and leaves it in debt.
        """
        if n < 1:
            raise ValueError(f"n must be >= 1, not {n}")
        keys = [self._tokens_key, self._limits_key]
        self._wait(f"{n} rate token(s)", timeout, self._take, keys, [n], None)

    def limits(self) -> Limits:
        return get_limits(self.redis, self.archive, limits_file=self.limits_file)

    def paused(self) -> bool:
        """True while the archive's rate is 0: a task can give its message back instead of
        spending a retry."""
        return self.limits().paused

    def snapshot(self) -> dict[str, Any]:
        """What a status display shows: holders now, tokens now, the limits."""
        limits = self.limits()
        keys = [self._slots_key, self._tokens_key, self._limits_key]
        reply = self._snapshot(keys=keys, args=list(self._defaults))
        holders = [_text(holder) for holder in reply[:-1]]
        return {
            "archive": self.archive,
            "holders": len(holders),
            "holder_ids": holders,
            "tokens": float(_text(reply[-1])),
            "max_concurrent": limits.max_concurrent,
            "rate_per_second": limits.rate_per_second,
            "burst": limits.bucket_size,
            "paused": limits.paused,
        }

    def _renew(self, holder: str) -> bool:
        lease_ms = round(self.lease_seconds * 1000)
        return bool(self._renew_script(keys=[self._slots_key], args=[holder, lease_ms]))

    def _release(self, holder: str) -> None:
        self._release_script(keys=[self._slots_key, self._channel], args=[holder])

    def _wait(
        self,
        what: str,
        timeout: float,
        script: Callable[..., Any],
        keys: list[str],
        args: list[str | int],
        wake_on_release: str | None,
    ) -> None:
        """Run `script` until it grants, sleeping on the wake channel in between.

        The first attempt costs one round trip. Only when it fails does the waiter subscribe,
        and it tries again right after subscribing, so no wake-up is lost in between.
        """
        deadline = time.monotonic() + timeout
        wake_on = {"limits", wake_on_release} if wake_on_release else {"limits"}
        pubsub: PubSub | None = None
        try:
            while True:
                granted, hint_ms, stored = script(keys=keys, args=[*args, *self._defaults])
                restored = self._restore_if_lost(bool(stored))
                if granted:
                    return
                if restored:
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    error = ArchivePausedError if hint_ms == _PAUSED else ThrottledError
                    raise error(self.archive, what, timeout)
                if pubsub is None:
                    pubsub = self.redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                    pubsub.subscribe(self._channel)
                    continue
                # The slot/bucket hint is exact; a pause has no end to wait for.
                hint = self.recheck_seconds if hint_ms == _PAUSED else hint_ms / 1000
                _sleep_until_woken(pubsub, min(remaining, hint, self.recheck_seconds), wake_on)
        finally:
            if pubsub is not None:
                pubsub.close()

    def _restore_if_lost(self, stored: bool) -> bool:
        """Redis had limits and lost them (a restart without persistence): put back the
        file's. True if it did, so the caller asks again under the right limits."""
        if stored:
            self._stored = True
            return False
        if not self._stored or self.limits_file is None:
            return False
        self._stored = False
        log.warning("throttle archive=%s limits missing from Redis; restoring", self.archive)
        return restore_limits(self.redis, self.archive, self.limits_file)


def _sleep_until_woken(pubsub: PubSub, seconds: float, wake_on: set[str]) -> None:
    """Block on the channel up to `seconds`; return early on a message in `wake_on`."""
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        message = pubsub.get_message(timeout=left)
        if message is not None and _text(message["data"]) in wake_on:
            return


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
