"""Deterministic pseudonyms: HMAC-SHA256 under a secret key and a per-project salt.

The same input gives the same output in every process and on every machine that holds the
same secrets, so nothing has to be stored; another project (another salt) gets unrelated
values, and without the key nothing can be recomputed from the originals.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from functools import lru_cache

_CACHE_SIZE = 65536


class Pseudonymiser:
    """Keyed pseudonyms for one project: UIDs under the 2.25 root and hex identifiers."""

    def __init__(self, key: bytes, project_salt: bytes) -> None:
        if not key or not project_salt:
            raise ValueError("the hashing key and the project salt must both be non-empty")
        # One derived key per project, so the salt never has to be carried next to values.
        self._key = hmac.new(key, b"pixl-project-key\x00" + project_salt, hashlib.sha256).digest()
        self.uid: Callable[[str], str] = lru_cache(maxsize=_CACHE_SIZE)(self._uid)
        self._hash: Callable[[str], str] = lru_cache(maxsize=_CACHE_SIZE)(self._hex)

    def _digest(self, domain: bytes, value: str) -> bytes:
        return hmac.new(self._key, domain + b"\x00" + value.encode(), hashlib.sha256).digest()

    def _uid(self, original: str) -> str:
        """`2.25.` + the decimal of 128 bits of HMAC (PS3.5 B.2): at most 44 characters."""
        return "2.25." + str(int.from_bytes(self._digest(b"uid", original)[:16], "big"))

    def _hex(self, value: str) -> str:
        return self._digest(b"id", value).hex()

    def hash_id(self, value: str, length: int = 64) -> str:
        """The keyed hash of an identifier as `length` hex characters (at most 64)."""
        if not 1 <= length <= 64:
            raise ValueError("length must be between 1 and 64 hex characters")
        return self._hash(value)[:length]
