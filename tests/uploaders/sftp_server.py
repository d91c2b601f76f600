"""A real SFTP server for the tests: paramiko's server side serving a temporary folder.

SSH transport with a generated ed25519 host key and password authentication, the SFTP
subsystem (including `posix-rename@openssh.com`) over a local folder, one thread per
connection, on 127.0.0.1. `cut_after_bytes` drops the connection mid-write, like a network
failure, to test interrupted uploads.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko
from paramiko import sftp as _sftp

# paramiko has no type hints: its status codes, typed once.
SFTP_OK: int = _sftp.SFTP_OK
SFTP_FAILURE: int = _sftp.SFTP_FAILURE
SFTP_NO_SUCH_FILE: int = _sftp.SFTP_NO_SUCH_FILE
SFTP_PERMISSION_DENIED: int = _sftp.SFTP_PERMISSION_DENIED
AUTH_SUCCESSFUL: int = paramiko.AUTH_SUCCESSFUL
AUTH_FAILED: int = paramiko.AUTH_FAILED
OPEN_SUCCEEDED: int = paramiko.OPEN_SUCCEEDED
OPEN_PROHIBITED: int = paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


@dataclass
class SFTPServerState:
    """What the server serves and what it saw; tests read and set it."""

    root: Path
    username: str
    password: str
    host_key: paramiko.PKey
    host: str = ""
    port: int = 0
    written: list[str] = field(default_factory=list)  # every path opened for writing
    cut_after_bytes: int | None = None  # drop the connection once a write goes past this

    @property
    def host_key_line(self) -> str:
        """The server's public key as `ssh-keyscan` prints it (type and base64)."""
        return f"{self.host_key.get_name()} {self.host_key.get_base64()}"


def _errno_code(error: OSError) -> int:
    return SFTP_NO_SUCH_FILE if isinstance(error, FileNotFoundError) else SFTP_FAILURE


class _Auth(paramiko.ServerInterface):  # type: ignore[misc]
    def __init__(self, state: SFTPServerState) -> None:
        self.state = state

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        ok = (username, password) == (self.state.username, self.state.password)
        return AUTH_SUCCESSFUL if ok else AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return OPEN_SUCCEEDED
        return OPEN_PROHIBITED


class _Handle(paramiko.SFTPHandle):  # type: ignore[misc]
    def __init__(self, file: Any, flags: int, state: SFTPServerState, transport: Any) -> None:
        super().__init__(flags)
        self.file = file
        self.readfile = file
        self.writefile = file
        self.state = state
        self.transport = transport

    def write(self, offset: int, data: bytes) -> int:
        cut = self.state.cut_after_bytes
        if cut is not None and offset + len(data) > cut:
            self.state.cut_after_bytes = None
            self.transport.close()
            return SFTP_FAILURE
        result: int = super().write(offset, data)
        return result

    def stat(self) -> Any:
        return paramiko.SFTPAttributes.from_stat(os.fstat(self.file.fileno()))

    def chattr(self, attr: Any) -> int:
        return SFTP_OK


class _Folder(paramiko.SFTPServerInterface):  # type: ignore[misc]
    """SFTP over `state.root`; paths are relative to it and cannot leave it."""

    server_transport: paramiko.Transport  # set per connection, to cut it on purpose

    def __init__(self, server: _Auth, *args: Any, **kwargs: Any) -> None:
        super().__init__(server, *args, **kwargs)
        self.state = server.state

    def _local(self, path: str) -> Path:
        relative = os.path.normpath("/" + path).lstrip("/")
        return self.state.root / relative

    def canonicalize(self, path: str) -> str:
        return os.path.normpath("/" + path)

    def list_folder(self, path: str) -> Any:
        folder = self._local(path)
        try:
            return [
                paramiko.SFTPAttributes.from_stat(entry.stat(), entry.name)
                for entry in os.scandir(folder)
            ]
        except OSError as error:
            return _errno_code(error)

    def stat(self, path: str) -> Any:
        try:
            return paramiko.SFTPAttributes.from_stat(self._local(path).stat())
        except OSError as error:
            return _errno_code(error)

    lstat = stat

    def open(self, path: str, flags: int, attr: Any) -> Any:
        local = self._local(path)
        writing = flags & (os.O_WRONLY | os.O_RDWR)
        mode = "r+b" if flags & os.O_RDWR else ("wb" if writing else "rb")
        if writing and not flags & os.O_TRUNC and local.exists():
            mode = "r+b"
        try:
            file = local.open(mode)
        except OSError as error:
            return _errno_code(error)
        if writing:
            self.state.written.append(path)
        return _Handle(file, flags, self.state, self.server_transport)

    def remove(self, path: str) -> int:
        try:
            self._local(path).unlink()
        except OSError as error:
            return _errno_code(error)
        return SFTP_OK

    def rename(self, oldpath: str, newpath: str) -> int:
        # Plain SFTP rename (draft 02) must not overwrite.
        if self._local(newpath).exists():
            return SFTP_FAILURE
        return self.posix_rename(oldpath, newpath)

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        try:
            os.replace(self._local(oldpath), self._local(newpath))
        except OSError as error:
            return _errno_code(error)
        return SFTP_OK

    def mkdir(self, path: str, attr: Any) -> int:
        try:
            self._local(path).mkdir()
        except FileExistsError:
            return SFTP_FAILURE
        except OSError as error:
            return _errno_code(error)
        return SFTP_OK

    def rmdir(self, path: str) -> int:
        try:
            self._local(path).rmdir()
        except OSError as error:
            return _errno_code(error)
        return SFTP_OK

    def chattr(self, path: str, attr: Any) -> int:
        return SFTP_OK if self._local(path).exists() else SFTP_PERMISSION_DENIED


class SFTPTestServer:
    """Listens on 127.0.0.1 and serves each connection in its own paramiko transport."""

    def __init__(self, state: SFTPServerState) -> None:
        self.state = state
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.host, self.port = self.listener.getsockname()[:2]
        self._transports: list[paramiko.Transport] = []
        self._thread = threading.Thread(target=self._accept, name="sftp-server", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            transport = paramiko.Transport(sock)
            transport.add_server_key(self.state.host_key)
            folder = type("Folder", (_Folder,), {"server_transport": transport})
            transport.set_subsystem_handler("sftp", paramiko.SFTPServer, folder)
            self._transports.append(transport)
            # With an event, negotiation runs in the transport's own thread.
            transport.start_server(event=threading.Event(), server=_Auth(self.state))

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.listener.close()
        for transport in self._transports:
            transport.close()
        self._thread.join(timeout=5)
