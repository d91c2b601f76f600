"""Secrets: named `<alias-or-slug>--<destination>--<field>` as in PIXL's Key Vault.

The embedded default reads environment variables (`PIXL_SECRET_` + the name upper-cased,
`-` turned into `_`) and then a local JSON file (`PIXL_SECRETS_FILE`). Values are cached
per process and never logged.
"""

from __future__ import annotations

import json
import os
import secrets as _random
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from pixl.errors import SecretNotFoundError
from pixl.settings import get_settings


class SecretStore(Protocol):
    def get(self, name: str) -> str: ...


def env_var_for(name: str) -> str:
    """The environment variable that holds secret `name`."""
    return "PIXL_SECRET_" + name.upper().replace("-", "_")


class LocalSecretStore:
    """Environment variables first, then a JSON file of name -> value."""

    def __init__(self, file: Path) -> None:
        self.file = file

    def _file_values(self) -> dict[str, str]:
        if not self.file.exists():
            return {}
        values: dict[str, str] = json.loads(self.file.read_text())
        return values

    def get(self, name: str) -> str:
        value = os.environ.get(env_var_for(name)) or self._file_values().get(name)
        if value is None:
            raise SecretNotFoundError(
                f"Secret '{name}' is not set: set {env_var_for(name)} or add it to {self.file}."
            )
        return value

    def ensure_random(self, name: str, nbytes: int = 32) -> None:
        """Create secret `name` with a random value if it is missing (embedded default only)."""
        values = self._file_values()
        if name in values or env_var_for(name) in os.environ:
            return
        values[name] = _random.token_hex(nbytes)
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(".tmp")
        tmp.write_text(json.dumps(values, indent=2))
        tmp.chmod(0o600)
        tmp.replace(self.file)


@lru_cache(maxsize=None)
def get_secret(name: str) -> str:
    """The value of secret `name`, cached for the life of the process."""
    settings = get_settings()
    assert settings.secrets_file is not None
    return LocalSecretStore(settings.secrets_file).get(name)


HASH_KEY_SECRET = "pixl--hashing--key"


def project_salt_secret(alias_or_slug: str) -> str:
    """Name of the per-project salt mixed into every pseudonym of that project."""
    return f"{alias_or_slug}--hashing--salt"
