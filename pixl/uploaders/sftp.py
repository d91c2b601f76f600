"""The SFTP destination: one zip per study at `<slug>/<pseudo_study_uid>.zip` (paramiko).

Same layout as FTPS. A zip is written as `<name>.zip.part` and renamed over the final name
with the `posix-rename@openssh.com` extension, so a half upload never looks finished.
The server's host key must be known: from secret `<alias>--sftp--known-host-key` or the
system's `known_hosts`; `PIXL_SFTP_ALLOW_UNKNOWN_HOSTS=true` accepts any key (tests only).
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import paramiko

from pixl.errors import ConfigError, SecretNotFoundError, UploadError
from pixl.uploaders.base import (
    credentials_hint,
    destination_secret,
    parquet_path,
    port_from_secret,
    read_secrets,
    zip_study,
)

log = logging.getLogger(__name__)

SECRET_FIELDS = ("host", "port", "username", "password")
HOST_KEY_FIELD = "known-host-key"
ALLOW_UNKNOWN_HOSTS_ENV = "PIXL_SFTP_ALLOW_UNKNOWN_HOSTS"


def parse_host_key(text: str) -> paramiko.PKey:
    """A public key from `<type> <base64>`, optionally preceded by host names as in a
    `known_hosts` line (what `ssh-keyscan` prints). Raises ValueError if it is neither."""
    tokens = text.split()
    for index, token in enumerate(tokens[:-1]):
        if token.startswith(("ssh-", "ecdsa-", "sk-")):
            try:
                return paramiko.PKey.from_type_string(token, base64.b64decode(tokens[index + 1]))
            except (binascii.Error, paramiko.SSHException, ValueError) as error:
                raise ValueError(f"not a valid {token} public key ({error})") from None
    raise ValueError("expected '<key type> <base64 key>', e.g. a line of ssh-keyscan output")


class _RefuseUnknownHost(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
    def __init__(self, hint: str) -> None:
        self.hint = hint

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        raise UploadError(
            f"SFTP server {hostname} presented a host key that is not known "
            f"({key.get_name()} {key.fingerprint}). {self.hint}"
        )


class SFTPUploader:
    """Uploads each study as one zip over SFTP, skipping zips already delivered whole."""

    name = "sftp"

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        *,
        host_key: paramiko.PKey | None = None,
        allow_unknown_hosts: bool = False,
        credentials_hint: str = "the SFTP username and password",
        host_key_hint: str = "Configure the server's public host key.",
        timeout: float = 60.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.host_key = host_key
        self.allow_unknown_hosts = allow_unknown_hosts
        self.credentials_hint = credentials_hint
        self.host_key_hint = host_key_hint
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"SFTPUploader({self.username}@{self.host}:{self.port})"

    def _known_as(self) -> str:
        """How known_hosts names this server: `host`, or `[host]:port` off port 22."""
        return self.host if self.port == 22 else f"[{self.host}]:{self.port}"

    @contextmanager
    def _session(self) -> Iterator[paramiko.SFTPClient]:
        """A logged-in SFTP session to a server whose host key is known; errors become
        UploadError naming the secrets to check, never their values."""
        client = paramiko.SSHClient()
        server = f"SFTP server {self.host}:{self.port}"
        try:
            client.load_system_host_keys()
            if self.host_key is not None:
                client.get_host_keys().add(
                    self._known_as(), self.host_key.get_name(), self.host_key
                )
            if self.allow_unknown_hosts:
                client.set_missing_host_key_policy(paramiko.WarningPolicy())
            else:
                client.set_missing_host_key_policy(_RefuseUnknownHost(self.host_key_hint))
            client.connect(
                self.host,
                self.port,
                username=self.username,
                password=self._password,
                timeout=self.timeout,
                banner_timeout=self.timeout,
                auth_timeout=self.timeout,
                allow_agent=False,
                look_for_keys=False,
            )
            sftp = client.open_sftp()
            sftp.get_channel().settimeout(self.timeout)
            yield sftp
        except paramiko.AuthenticationException:
            raise UploadError(
                f"{server} refused the login of user '{self.username}'. "
                f"Check {self.credentials_hint}; the upload will be retried."
            ) from None
        except paramiko.BadHostKeyException as error:
            raise UploadError(
                f"{server} presented host key {error.key.get_name()} {error.key.fingerprint}, "
                f"not the one configured ({error.expected_key.fingerprint}): either the server "
                f"was re-keyed or someone is in between. {self.host_key_hint}",
                permanent=True,
            ) from None
        except (OSError, EOFError, paramiko.SSHException) as error:
            raise UploadError(f"{server}: {error}; the upload will be retried.") from error
        finally:
            client.close()

    def _where(self, path: str) -> str:
        return f"sftp://{self.host}:{self.port}/{path}"

    def study_exists(self, project_slug: str, pseudo_study_uid: str) -> bool:
        with self._session() as sftp:
            return _size(sftp, f"{project_slug}/{pseudo_study_uid}.zip") is not None

    def upload_study(self, project_slug: str, pseudo_study_uid: str, files: list[Path]) -> str:
        final = f"{project_slug}/{pseudo_study_uid}.zip"
        zip_path = zip_study(files, pseudo_study_uid)
        try:
            size = zip_path.stat().st_size
            with self._session() as sftp:
                if _size(sftp, final) == size:
                    log.info(
                        "upload skipped project=%s study=%s: already there",
                        project_slug,
                        pseudo_study_uid,
                    )
                    return self._where(final)
                _put_then_rename(sftp, zip_path, final)
        finally:
            zip_path.unlink(missing_ok=True)
        log.info("uploaded project=%s study=%s bytes=%d", project_slug, pseudo_study_uid, size)
        return self._where(final)

    def upload_parquet(
        self, project_slug: str, extract_datetime_slug: str, files: list[tuple[Path, str]]
    ) -> str:
        """Write each file as `<name>.part`, then rename it over any earlier copy."""
        targets = [
            (path, parquet_path(project_slug, extract_datetime_slug, rel)) for path, rel in files
        ]
        with self._session() as sftp:
            for path, target in targets:
                _put_then_rename(sftp, path, target)
        log.info("uploaded project=%s parquet files=%d", project_slug, len(files))
        return self._where(f"{project_slug}/{extract_datetime_slug}/parquet")


def _size(sftp: paramiko.SFTPClient, path: str) -> int | None:
    """The size of a remote file, or None if there is no such file."""
    try:
        size: int = sftp.stat(path).st_size
        return size
    except FileNotFoundError:
        return None


def _makedirs(sftp: paramiko.SFTPClient, folder: str) -> None:
    """Create `folder` and its parents, relative to the login directory, if missing."""
    current = ""
    for part in folder.split("/"):
        current = f"{current}/{part}" if current else part
        try:
            sftp.stat(current)
        except FileNotFoundError:
            with suppress(OSError):  # another worker may have just created it
                sftp.mkdir(current)


def _put_then_rename(sftp: paramiko.SFTPClient, local: Path, remote: str) -> None:
    """Upload to `<remote>.part` (size confirmed), then atomically rename it to `remote`."""
    folder = remote.rpartition("/")[0]
    if folder:
        _makedirs(sftp, folder)
    part = f"{remote}.part"
    sftp.put(str(local), part, confirm=True)
    try:
        sftp.posix_rename(part, remote)
    except OSError:  # a server without posix-rename: plain SFTP rename will not overwrite
        with suppress(FileNotFoundError):
            sftp.remove(remote)
        sftp.rename(part, remote)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def sftp_from_secrets(
    alias_or_slug: str,
    get_secret: Callable[[str], str],
    *,
    allow_unknown_hosts: bool | None = None,
    timeout: float = 60.0,
) -> SFTPUploader:
    """An uploader from secrets `<alias>--sftp--{host,port,username,password}` and the
    optional `<alias>--sftp--known-host-key`."""
    values = read_secrets(alias_or_slug, "sftp", SECRET_FIELDS, get_secret)
    key_secret = destination_secret(alias_or_slug, "sftp", HOST_KEY_FIELD)
    port = port_from_secret(alias_or_slug, "sftp", values["port"])
    try:
        key_text: str | None = get_secret(key_secret)
    except SecretNotFoundError:
        key_text = None
    host_key = None
    if key_text:
        try:
            host_key = parse_host_key(key_text)
        except ValueError as error:
            raise ConfigError(
                source=f"secret '{key_secret}'", field=None, problem=str(error)
            ) from None
    if allow_unknown_hosts is None:
        allow_unknown_hosts = _truthy(os.environ.get(ALLOW_UNKNOWN_HOSTS_ENV))
    return SFTPUploader(
        values["host"],
        port,
        values["username"],
        values["password"],
        host_key=host_key,
        allow_unknown_hosts=allow_unknown_hosts,
        credentials_hint=credentials_hint(alias_or_slug, "sftp"),
        host_key_hint=(
            f"Put the server's public key in secret '{key_secret}' (a line of "
            f"`ssh-keyscan -p {port} {values['host']}`), or set {ALLOW_UNKNOWN_HOSTS_ENV}=true "
            "to accept any key (never in production)."
        ),
        timeout=timeout,
    )
