"""Pieces shared by every pynetdicom AE in pixl: socket options and transfer syntaxes."""

from __future__ import annotations

import re
import signal
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from pydicom.uid import (
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import _config
from pynetdicom.transport import ThreadedAssociationServer

if TYPE_CHECKING:
    from types import FrameType

    from pynetdicom import AE
    from pynetdicom.events import Event, EventHandlerType

# pynetdicom logs every query and response identifier (PatientID, AccessionNumber) at INFO;
# patient identifiers must never reach the logs at INFO (CONVENTIONS), so turn that off.
_config.LOG_REQUEST_IDENTIFIERS = False
_config.LOG_RESPONSE_IDENTIFIERS = False

# SOP classes pynetdicom generates at run time (so mypy cannot see them), PS3.4 Annex A/C.
VERIFICATION = UID("1.2.840.10008.1.1")
PATIENT_ROOT_FIND = UID("1.2.840.10008.5.1.4.1.2.1.1")
PATIENT_ROOT_MOVE = UID("1.2.840.10008.5.1.4.1.2.1.2")
STUDY_ROOT_FIND = UID("1.2.840.10008.5.1.4.1.2.2.1")
STUDY_ROOT_MOVE = UID("1.2.840.10008.5.1.4.1.2.2.2")

#: Transfer syntaxes pixl accepts as a storage SCP: uncompressed plus the common compressed ones.
STORAGE_TRANSFER_SYNTAXES: list[str] = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    JPEG2000Lossless,
    JPEG2000,
    RLELossless,
]

#: PS3.5 section 9.1: UIDs are digits and dots, at most 64 characters.
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def is_uid(value: str) -> bool:
    """True if `value` is a well-formed UID, safe to use as a file or folder name."""
    return len(value) <= 64 and _UID.match(value) is not None


def set_tcp_nodelay(event: Event) -> None:
    """EVT_CONN_OPEN handler: turn off Nagle's algorithm on the association's socket.

    pynetdicom leaves it on; with it off C-STORE throughput doubles (FIELD-NOTES).
    """
    transport = event.assoc.dul.socket
    sock = transport.socket if transport is not None else None
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def serve_in_background(
    ae: AE, address: tuple[str, int], handlers: list[EventHandlerType]
) -> ThreadedAssociationServer:
    """Listen in a daemon thread, like `AE.start_server(block=False)`, but polling every
    50 ms instead of 500 ms, so `shutdown()` returns at once."""
    server = ae.make_server(address, evt_handlers=handlers, server_class=ThreadedAssociationServer)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    ae._servers.append(server)  # as start_server() does: server.shutdown() removes it
    return server


def run_until_signalled(start: Callable[[], None], stop: Callable[[], None]) -> None:
    """Run a server in the foreground: `start`, print "ready", wait for SIGINT/SIGTERM, `stop`."""
    done = threading.Event()

    def _handle(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, _handle)
    signal.signal(signal.SIGTERM, _handle)
    start()
    print("ready", flush=True)
    done.wait()
    stop()
