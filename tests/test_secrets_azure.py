"""The Azure Key Vault store against a STAND-IN of Key Vault's REST API over HTTPS.

The stand-in answers `GET /secrets/<name>?api-version=...` as Key Vault does: without a
bearer token, 401 with the `WWW-Authenticate` challenge naming the tenant and the resource
(the SDK's first, unauthenticated request); with the token, `{"value", "id", ...}`; an
unknown name, 404 `SecretNotFound`. The credential is a small object implementing
`get_token`, in place of Azure AD.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.credentials import AccessToken
from uploaders.https_standin import HttpsServer, self_signed_certificate

from pixl.errors import ConfigError, SecretNotFoundError
from pixl.secrets import BACKEND_ENV, LocalSecretStore, get_secret, secret_store
from pixl.secrets.azure import AzureKeyVaultStore, SecretStoreError

TENANT = "00000000-0000-0000-0000-00000000feed"
TOKEN = "stand-in-access-token"
SECRETS = {"proj--ftp--password": "kv-s3cret-Value-1", "pixl--hashing--key": "kv-hash-key"}


@dataclass
class VaultState:
    secrets: dict[str, str]
    requests: list[tuple[str, str | None, str | None]] = field(default_factory=list)


class _Vault(BaseHTTPRequestHandler):
    state: VaultState
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {**headers, "Content-Type": "application/json"}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        version = parse_qs(url.query).get("api-version", [None])[0]
        auth = self.headers.get("Authorization")
        self.state.requests.append((url.path, version, auth))
        if auth != f"Bearer {TOKEN}":
            challenge = (
                f'Bearer authorization="https://login.microsoftonline.com/{TENANT}", '
                'resource="https://vault.azure.net"'
            )
            error = {"code": "Unauthorized", "message": "AKV10000: Request is missing a Bearer"}
            return self._reply(401, {"error": error}, {"WWW-Authenticate": challenge})
        name = url.path.removeprefix("/secrets/").split("/")[0]
        if name not in self.state.secrets:
            error = {
                "code": "SecretNotFound",
                "message": f"A secret with (name/id) {name} was not found",
            }
            return self._reply(404, {"error": error}, {})
        host = f"https://{self.headers['Host']}"
        body = {
            "value": self.state.secrets[name],
            "id": f"{host}/secrets/{name}/0123456789abcdef0123456789abcdef",
            "attributes": {"enabled": True, "created": 1700000000, "updated": 1700000000},
        }
        return self._reply(200, body, {})


class StandInCredential:
    """Hands out the stand-in's token for any scope, recording the scopes asked for."""

    def __init__(self) -> None:
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(TOKEN, int(time.time()) + 3600)


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, VaultState, Path]]:
    cert, key = self_signed_certificate(tmp_path_factory.mktemp("vault-tls"))
    state = VaultState(dict(SECRETS))
    server = HttpsServer(type("Vault", (_Vault,), {"state": state}), cert, key)
    server.start()
    yield server.url, state, cert
    server.stop()


def store_for(vault: tuple[str, VaultState, Path], credential: Any) -> AzureKeyVaultStore:
    url, _, cert = vault
    # The stand-in lives at 127.0.0.1, not under vault.azure.net: the SDK's check that the
    # challenge's resource matches the vault's domain cannot pass, so it is turned off here.
    return AzureKeyVaultStore(
        url, credential, connection_verify=str(cert), verify_challenge_resource=False
    )


def test_secret_is_read_after_the_challenge(
    vault: tuple[str, VaultState, Path], caplog: pytest.LogCaptureFixture
) -> None:
    credential = StandInCredential()
    store = store_for(vault, credential)
    caplog.set_level(logging.DEBUG)

    assert store.get("proj--ftp--password") == SECRETS["proj--ftp--password"]

    requests = [r for r in vault[1].requests if r[0].rstrip("/") == "/secrets/proj--ftp--password"]
    assert [auth for _, _, auth in requests] == [None, f"Bearer {TOKEN}"]
    assert all(version for _, version, _ in requests)
    assert credential.scopes == [("https://vault.azure.net/.default",)]
    assert SECRETS["proj--ftp--password"] not in caplog.text


def test_missing_secret_is_secret_not_found_naming_it(
    vault: tuple[str, VaultState, Path],
) -> None:
    store = store_for(vault, StandInCredential())

    with pytest.raises(SecretNotFoundError, match="'proj--sftp--host' is not in Azure Key Vault"):
        store.get("proj--sftp--host")


def test_untrusted_vault_certificate_is_a_store_error(vault: tuple[str, VaultState, Path]) -> None:
    store = AzureKeyVaultStore(
        vault[0], StandInCredential(), verify_challenge_resource=False, retry_total=0
    )

    with pytest.raises(SecretStoreError, match="unreachable"):
        store.get("proj--ftp--password")


def test_azure_backend_is_selected_when_a_vault_is_configured(
    vault: tuple[str, VaultState, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    monkeypatch.setenv("PIXL_AZURE_KEY_VAULT_URL", vault[0])

    store = secret_store()

    assert isinstance(store, AzureKeyVaultStore)
    assert store.vault_url == vault[0]


def test_vault_name_gives_the_azure_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIXL_AZURE_KEY_VAULT_URL", raising=False)
    monkeypatch.setenv("PIXL_AZURE_KEY_VAULT_NAME", "pixl-kv")
    monkeypatch.setenv(BACKEND_ENV, "azure")

    store = secret_store()

    assert isinstance(store, AzureKeyVaultStore)
    assert store.vault_url == "https://pixl-kv.vault.azure.net"


def test_local_backend_is_the_default_and_get_secret_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PIXL_AZURE_KEY_VAULT_URL", "PIXL_AZURE_KEY_VAULT_NAME", BACKEND_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIXL_SECRET_PROJ__SFTP__HOST", "sftp.example")
    get_secret.cache_clear()
    try:
        assert isinstance(secret_store(), LocalSecretStore)
        assert get_secret("proj--sftp--host") == "sftp.example"
        monkeypatch.setenv("PIXL_SECRET_PROJ__SFTP__HOST", "changed.example")
        assert get_secret("proj--sftp--host") == "sftp.example"
    finally:
        get_secret.cache_clear()


def test_unknown_backend_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BACKEND_ENV, "vault9000")

    with pytest.raises(ConfigError, match="'vault9000' is not one of local, azure"):
        secret_store()


def test_azure_backend_without_a_vault_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BACKEND_ENV, "azure")
    for name in ("PIXL_AZURE_KEY_VAULT_URL", "PIXL_AZURE_KEY_VAULT_NAME"):
        monkeypatch.delenv(name, raising=False)

    with pytest.raises(ConfigError, match="PIXL_AZURE_KEY_VAULT_URL"):
        secret_store()
