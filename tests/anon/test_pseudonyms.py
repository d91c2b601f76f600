"""Keyed pseudonyms: format, determinism across processes, separation between projects."""

from __future__ import annotations

import subprocess
import sys

import pytest
from anon_helpers import KEY, SALT

from pixl.anon.pseudonyms import Pseudonymiser

ORIGINAL = "1.2.826.0.1.3680043.8.498.12345678901234567890"


def test_uid_format(pseudonymiser: Pseudonymiser) -> None:
    uid = pseudonymiser.uid(ORIGINAL)
    assert uid.startswith("2.25.")
    digits = uid.removeprefix("2.25.")
    assert digits.isdigit() and not digits.startswith("0")
    assert int(digits) < 2**128
    assert len(uid) <= 64


def test_uid_is_deterministic_and_distinct(pseudonymiser: Pseudonymiser) -> None:
    assert pseudonymiser.uid(ORIGINAL) == Pseudonymiser(KEY, SALT).uid(ORIGINAL)
    assert pseudonymiser.uid(ORIGINAL) != pseudonymiser.uid(ORIGINAL + "1")


def test_projects_and_keys_do_not_share_pseudonyms(pseudonymiser: Pseudonymiser) -> None:
    other_project = Pseudonymiser(KEY, SALT + b"-other")
    other_key = Pseudonymiser(KEY + b"-other", SALT)
    assert other_project.uid(ORIGINAL) != pseudonymiser.uid(ORIGINAL)
    assert other_key.uid(ORIGINAL) != pseudonymiser.uid(ORIGINAL)
    assert other_project.hash_id("12345678") != pseudonymiser.hash_id("12345678")


def test_hash_id(pseudonymiser: Pseudonymiser) -> None:
    full = pseudonymiser.hash_id("12345678")
    assert len(full) == 64
    int(full, 16)
    assert pseudonymiser.hash_id("12345678", length=16) == full[:16]
    assert pseudonymiser.hash_id("12345679") != full
    # an identifier and a UID of the same text are hashed in different domains
    assert pseudonymiser.uid("12345678").removeprefix("2.25.") != str(int(full[:32], 16))


@pytest.mark.parametrize("length", [0, 65])
def test_hash_length_bounds(pseudonymiser: Pseudonymiser, length: int) -> None:
    with pytest.raises(ValueError, match="length"):
        pseudonymiser.hash_id("x", length=length)


def test_empty_secrets_are_refused() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        Pseudonymiser(b"", SALT)
    with pytest.raises(ValueError, match="non-empty"):
        Pseudonymiser(KEY, b"")


def test_same_pseudonyms_in_another_process(pseudonymiser: Pseudonymiser) -> None:
    code = (
        "from pixl.anon.pseudonyms import Pseudonymiser;"
        f"p = Pseudonymiser({KEY!r}, {SALT!r});"
        f"print(p.uid({ORIGINAL!r}), p.hash_id('12345678'))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    assert output == [pseudonymiser.uid(ORIGINAL), pseudonymiser.hash_id("12345678")]
