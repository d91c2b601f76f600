"""Secrets, named `<alias-or-slug>--<destination>--<field>` as in PIXL's Key Vault.

One store per process, chosen from the environment: `PIXL_SECRETS_BACKEND=azure` (Azure Key
Vault, `pixl.secrets.azure`) or `local` (environment variables, then a JSON file:
`pixl.secrets.local`). Without `PIXL_SECRETS_BACKEND`, a configured vault
(`PIXL_AZURE_KEY_VAULT_URL` or `PIXL_AZURE_KEY_VAULT_NAME`) selects Azure, else local.
Values are cached per process and never logged.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Protocol

from pixl.errors import ConfigError
from pixl.secrets.local import LocalSecretStore, env_var_for
from pixl.settings import get_settings

__all__ = [
    "BACKEND_ENV",
    "HASH_KEY_SECRET",
    "LocalSecretStore",
    "SecretStore",
    "env_var_for",
    "get_secret",
    "project_salt_secret",
    "secret_store",
]

BACKEND_ENV = "PIXL_SECRETS_BACKEND"
HASH_KEY_SECRET = "pixl--hashing--key"


class SecretStore(Protocol):
    def get(self, name: str) -> str: ...


def _local() -> SecretStore:
    settings = get_settings()
    assert settings.secrets_file is not None
    return LocalSecretStore(settings.secrets_file)


def _azure() -> SecretStore:
    from pixl.secrets.azure import (
        VAULT_NAME_ENV,
        VAULT_URL_ENV,
        AzureKeyVaultStore,
        vault_url_from_env,
    )

    url = vault_url_from_env()
    if url is None:
        raise ConfigError(
            BACKEND_ENV, None, f"is 'azure' but neither {VAULT_URL_ENV} nor {VAULT_NAME_ENV} is set"
        )
    return AzureKeyVaultStore(url)


_BACKENDS = {"local": _local, "azure": _azure}


def secret_store() -> SecretStore:
    """The store the environment selects (see the module docstring)."""
    from pixl.secrets.azure import vault_url_from_env

    backend = os.environ.get(BACKEND_ENV) or ("azure" if vault_url_from_env() else "local")
    factory = _BACKENDS.get(backend.strip().lower())
    if factory is None:
        raise ConfigError(BACKEND_ENV, None, f"'{backend}' is not one of {', '.join(_BACKENDS)}")
    return factory()


@cache
def get_secret(name: str) -> str:
    """The value of secret `name`, cached for the life of the process."""
    return secret_store().get(name)


def project_salt_secret(alias_or_slug: str) -> str:
    """Name of the per-project salt mixed into every pseudonym of that project."""
    return f"{alias_or_slug}--hashing--salt"
