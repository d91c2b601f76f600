"""The built-in raw cache's Storage SCP (PS3.4 Annex B): C-STORE into a local folder.

Each instance lands at `root/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm`,
written under a temporary name in the same folder and renamed, so a reader never sees a
half-written file. The bytes are the peer's encoding, unchanged, as a Part 10 file.

Run in the foreground: `python -m pixl.dicom.storage_scp --root DIR --ae PIXLCACHE --port 11112`.
"""

from __future__ import annotations

import argparse
import logging
import os
import threading
import uuid
from pathlib import Path

from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.events import Event
from pynetdicom.transport import ThreadedAssociationServer

from pixl.dicom.network import (
    STORAGE_TRANSFER_SYNTAXES,
    VERIFICATION,
    is_uid,
    run_until_signalled,
    serve_in_background,
    set_tcp_nodelay,
)
from pixl.settings import DicomNode

log = logging.getLogger(__name__)

#: PS3.4 Table B.2-1 statuses.
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000

TEMP_SUFFIX = ".tmp"


def instance_path(root: Path, study_uid: str, series_uid: str, sop_uid: str) -> Path:
    """Where the folder cache keeps one instance."""
    return root / study_uid / series_uid / f"{sop_uid}.dcm"


class StorageSCP:
    """A Storage SCP accepting every storage SOP class, writing to `root`."""

    def __init__(self, root: Path, node: DicomNode, bind_host: str | None = None) -> None:
        self.root = Path(root)
        self.node = node
        self.bind_host = node.host if bind_host is None else bind_host
        self._ae = AE(ae_title=node.ae_title)
        self._ae.add_supported_context(VERIFICATION)
        for context in AllStoragePresentationContexts:
            self._ae.add_supported_context(str(context.abstract_syntax), STORAGE_TRANSFER_SYNTAXES)
        self._server: ThreadedAssociationServer | None = None
        self._stored: dict[int, int] = {}  # id(association) -> instances stored
        self._lock = threading.Lock()

    def start(self) -> None:
        """Start listening in background threads."""
        self.root.mkdir(parents=True, exist_ok=True)
        self._server = serve_in_background(
            self._ae,
            (self.bind_host, self.node.port),
            [
                (evt.EVT_CONN_OPEN, set_tcp_nodelay),
                (evt.EVT_C_STORE, self._on_c_store),
                (evt.EVT_CONN_CLOSE, self._on_conn_close),
            ],
        )
        log.info("storage SCP %s listening, writing to %s", self.node, self.root)

    def stop(self) -> None:
        """Stop listening and abort every open association."""
        if self._server is not None:
            self._ae.shutdown()
            self._server = None

    def _on_c_store(self, event: Event) -> int:
        """EVT_C_STORE: write the instance as received; PS3.4 B.2.3 statuses."""
        ds = event.dataset
        uids = (
            str(ds.get("StudyInstanceUID", "")),
            str(ds.get("SeriesInstanceUID", "")),
            str(ds.get("SOPInstanceUID", "")),
        )
        if not all(is_uid(uid) for uid in uids):
            log.error("C-STORE refused: missing or malformed study, series or SOP UID")
            return CANNOT_UNDERSTAND
        path = instance_path(self.root, *uids)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{TEMP_SUFFIX}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(event.encoded_dataset())
            os.replace(tmp, path)
        except OSError as exc:
            log.error("C-STORE of study %s failed: %s", uids[0], exc)
            tmp.unlink(missing_ok=True)
            return OUT_OF_RESOURCES
        with self._lock:
            key = id(event.assoc)
            self._stored[key] = self._stored.get(key, 0) + 1
        return SUCCESS

    def _on_conn_close(self, event: Event) -> None:
        """One log line per association, not per instance."""
        with self._lock:
            count = self._stored.pop(id(event.assoc), 0)
        how = "released" if event.assoc.is_released else "aborted"
        peer = event.assoc.requestor.ae_title
        log.info("association from %s %s: %d instances stored", peer, how, count)


def main(argv: list[str] | None = None) -> None:
    """Run the storage SCP in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--ae", default="PIXLCACHE")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=11112)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    scp = StorageSCP(args.root, DicomNode(ae_title=args.ae, host=args.host, port=args.port))
    run_until_signalled(scp.start, scp.stop)


if __name__ == "__main__":
    main()
