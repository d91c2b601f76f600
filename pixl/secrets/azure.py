"""Azure Key Vault as the secret store (production), with azure-keyvault-secrets.

The vault is `PIXL_AZURE_KEY_VAULT_URL` (or `https://<PIXL_AZURE_KEY_VAULT_NAME>.vault.azure.net`).
Credentials come from `DefaultAzureCredential`: with `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET`
and `AZURE_TENANT_ID` set, a service principal; otherwise a managed identity or a developer
login. Values are never logged: the SDK's HTTP logging never includes response bodies.
"""

from __future__ import annotations

import os
from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.keyvault.secrets import SecretClient

from pixl.errors import ConfigError, PixlError, SecretNotFoundError

VAULT_URL_ENV = "PIXL_AZURE_KEY_VAULT_URL"
VAULT_NAME_ENV = "PIXL_AZURE_KEY_VAULT_NAME"


class SecretStoreError(PixlError):
    """The secret store could not be reached or refused access."""


def vault_url_from_env() -> str | None:
    """The configured vault URL, from `PIXL_AZURE_KEY_VAULT_URL` or `..._NAME`, if any."""
    url = os.environ.get(VAULT_URL_ENV)
    name = os.environ.get(VAULT_NAME_ENV)
    if url:
        return url
    return f"https://{name}.vault.azure.net" if name else None


class AzureKeyVaultStore:
    """Reads secrets from one Azure Key Vault."""

    # SecretStoreError is transient (the vault is down or refuses this identity): unlike
    # SecretNotFoundError, a task should retry it.

    def __init__(
        self, vault_url: str, credential: Any | None = None, **client_options: Any
    ) -> None:
        """`credential` defaults to `DefaultAzureCredential()`; `client_options` go to the
        SDK's `SecretClient` (for example `connection_verify`)."""
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        self.vault_url = vault_url
        self._client = SecretClient(vault_url, credential, logging_enable=False, **client_options)

    def __repr__(self) -> str:
        return f"AzureKeyVaultStore({self.vault_url})"

    def get(self, name: str) -> str:
        vault = f"Azure Key Vault {self.vault_url}"
        try:
            value = self._client.get_secret(name).value
        except ResourceNotFoundError:
            raise SecretNotFoundError(f"Secret '{name}' is not in {vault}: add it there.") from None
        except ClientAuthenticationError as error:
            raise SecretStoreError(
                f"{vault}: could not authenticate ({type(error).__name__}). Check AZURE_CLIENT_ID, "
                "AZURE_TENANT_ID and AZURE_CLIENT_SECRET (or the managed identity)."
            ) from None
        except HttpResponseError as error:
            hint = (
                "grant this identity 'get' on secrets"
                if error.status_code == 403
                else "retry later"
            )
            raise SecretStoreError(
                f"{vault}: reading secret '{name}' failed (HTTP {error.status_code}); {hint}."
            ) from None
        except ServiceRequestError as error:
            raise SecretStoreError(
                f"{vault} is unreachable ({error}); check {VAULT_URL_ENV}."
            ) from None
        if value is None:
            raise ConfigError(f"secret '{name}'", None, f"has no value in {vault}")
        return value
