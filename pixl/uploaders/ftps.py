"""The FTPS destination: one zip per study at `<slug>/<pseudo_study_uid>.zip`.

FTP over TLS (RFC 4217) with the data channel protected too (PROT P). A zip is stored as
`<name>.zip.part` and renamed when complete, so a half upload never looks finished.
"""

from __future__ import annotations

import ftplib
import logging
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from pixl.errors import UploadError
from pixl.uploaders.base import (
    credentials_hint,
    parquet_path,
    port_from_secret,
    read_secrets,
    zip_study,
)

log = logging.getLogger(__name__)

SECRET_FIELDS = ("host", "port", "username", "password")


class _FTPS(ftplib.FTP_TLS):
    """FTP_TLS that can start in TLS (implicit, port 990) and reuses the TLS session on
    data connections, which servers such as vsftpd (`require_ssl_reuse`) insist on."""

    def __init__(self, implicit: bool, context: ssl.SSLContext, timeout: float) -> None:
        super().__init__(context=context, timeout=timeout)
        self.implicit = implicit

    def connect(self, host: str = "", port: int = 0, *args: Any, **kwargs: Any) -> str:
        if not self.implicit:
            return super().connect(host, port, *args, **kwargs)
        self.host, self.port = host, port
        raw = socket.create_connection((host, port), self.timeout)
        self.sock = self.context.wrap_socket(raw, server_hostname=host)
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome

    def ntransfercmd(
        self, cmd: str, rest: int | str | None = None
    ) -> tuple[socket.socket, int | None]:
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        session = self.sock.session if isinstance(self.sock, ssl.SSLSocket) else None
        conn = self.context.wrap_socket(conn, server_hostname=self.host, session=session)
        return conn, size


class FTPSUploader:
    """Uploads each study as one zip over FTPS, skipping zips already delivered whole."""

    name = "ftps"

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        implicit_tls: bool = False,
        *,
        ssl_context: ssl.SSLContext | None = None,
        credentials_hint: str = "the FTPS username and password",
        timeout: float = 60.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.implicit_tls = implicit_tls
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.credentials_hint = credentials_hint
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"FTPSUploader({self.username}@{self.host}:{self.port})"

    def _where(self, project_slug: str, pseudo_study_uid: str) -> str:
        return f"ftps://{self.host}:{self.port}/{project_slug}/{pseudo_study_uid}.zip"

    @contextmanager
    def _session(self) -> Iterator[_FTPS]:
        """A logged-in, binary-mode, data-protected session; errors become UploadError."""
        ftp = _FTPS(self.implicit_tls, self.ssl_context, self.timeout)
        server = f"FTPS server {self.host}:{self.port}"
        try:
            ftp.connect(self.host, self.port)
            try:
                ftp.login(self.username, self._password)
            except ftplib.error_perm as error:
                raise UploadError(
                    f"{server} refused the login of user '{self.username}' ({_code(error)}). "
                    f"Check {self.credentials_hint}."
                ) from None
            ftp.prot_p()
            ftp.voidcmd("TYPE I")
            yield ftp
        except ssl.SSLCertVerificationError as error:
            raise UploadError(
                f"{server} presented a certificate that is not trusted ({error.verify_message}). "
                "Add its CA to the trust store (SSL_CERT_FILE) or fix the host name."
            ) from error
        except (OSError, EOFError, ftplib.Error) as error:
            raise UploadError(f"{server}: {error}; the upload will be retried.") from error
        finally:
            ftp.close()

    def study_exists(self, project_slug: str, pseudo_study_uid: str) -> bool:
        with self._session() as ftp:
            return _size(ftp, f"{project_slug}/{pseudo_study_uid}.zip") is not None

    def upload_study(self, project_slug: str, pseudo_study_uid: str, files: list[Path]) -> str:
        where = self._where(project_slug, pseudo_study_uid)
        final = f"{pseudo_study_uid}.zip"
        part = f"{final}.part"
        zip_path = zip_study(files, pseudo_study_uid)
        try:
            size = zip_path.stat().st_size
            with self._session() as ftp:
                _enter_directory(ftp, project_slug)
                existing = _size(ftp, final)
                if existing == size:
                    log.info(
                        "upload skipped project=%s study=%s: already there", project_slug, final
                    )
                    return where
                with zip_path.open("rb") as data:
                    ftp.storbinary(f"STOR {part}", data)
                if existing is not None:  # a different zip of this study: replace it
                    ftp.delete(final)
                ftp.rename(part, final)
        finally:
            zip_path.unlink(missing_ok=True)
        log.info("uploaded project=%s study=%s bytes=%d", project_slug, final, size)
        return where

    def upload_parquet(
        self, project_slug: str, extract_datetime_slug: str, files: list[tuple[Path, str]]
    ) -> str:
        """Store each file as `<name>.part`, then rename it over any earlier copy."""
        targets = [
            (path, parquet_path(project_slug, extract_datetime_slug, rel)) for path, rel in files
        ]
        with self._session() as ftp:
            home = ftp.pwd()
            for path, target in targets:
                folder, _, name = target.rpartition("/")
                ftp.cwd(home)
                for part in folder.split("/"):
                    _enter_directory(ftp, part)
                with path.open("rb") as data:
                    ftp.storbinary(f"STOR {name}.part", data)
                if _size(ftp, name) is not None:
                    ftp.delete(name)
                ftp.rename(f"{name}.part", name)
        log.info("uploaded project=%s parquet files=%d", project_slug, len(files))
        return f"ftps://{self.host}:{self.port}/{project_slug}/{extract_datetime_slug}/parquet"


def _code(error: ftplib.Error) -> str:
    return str(error).split(" ", 1)[0]


def _size(ftp: ftplib.FTP, path: str) -> int | None:
    """The size of a remote file, or None if there is no such file (SIZE, RFC 3659)."""
    try:
        return ftp.size(path)
    except ftplib.error_perm:
        return None


def _enter_directory(ftp: ftplib.FTP, name: str) -> None:
    try:
        ftp.cwd(name)
    except ftplib.error_perm:
        with suppress(ftplib.error_perm):  # another worker may have just created it
            ftp.mkd(name)
        ftp.cwd(name)


def ftps_from_secrets(
    alias_or_slug: str,
    get_secret: Callable[[str], str],
    *,
    ssl_context: ssl.SSLContext | None = None,
) -> FTPSUploader:
    """An uploader configured from secrets `<alias>--ftp--{host,port,username,password}`."""
    values = read_secrets(alias_or_slug, "ftp", SECRET_FIELDS, get_secret)
    port = port_from_secret(alias_or_slug, "ftp", values["port"])
    return FTPSUploader(
        values["host"],
        port,
        values["username"],
        values["password"],
        ssl_context=ssl_context,
        credentials_hint=credentials_hint(alias_or_slug, "ftp"),
    )
