"""Every Redis key prefix pixl uses, in one place.

Each prefix is followed by one name (an archive: `pixl:slots:vna`). Keeping them here makes
a `SCAN MATCH pixl:*` readable and a clash between two parts of pixl impossible.
"""

from __future__ import annotations

REDIS_PREFIX = "pixl:"

# Hash: max_concurrent, rate_per_second, burst, updated_at. No TTL: the runtime settings of
# an archive's limit, kept until changed (see pixl.throttle.limits for persistence).
LIMITS_PREFIX = "pixl:limits:"

# Sorted set: transfer-slot holder id -> lease expiry (ms, Redis clock). Expires by itself
# when its last lease does.
SLOTS_PREFIX = "pixl:slots:"

# Hash: tokens, at (ms, Redis clock). The token bucket of an archive; expires once full.
TOKENS_PREFIX = "pixl:tokens:"

# Pub/sub channel: "slot" when a transfer slot is released, "limits" when limits change.
WAKE_PREFIX = "pixl:wake:"
