"""The embedded default secret store: environment variables (`PIXL_SECRET_` + the name
upper-cased, `-` turned into `_`), then a local JSON file (`PIXL_SECRETS_FILE`)."""

from __future__ import annotations

import json
import os
import secrets as _random
from pathlib import Path

from pixl.errors import SecretNotFoundError


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
