"""Each destination that runs here as a real server, end to end from the pipeline: real
workers on RabbitMQ, records in PostgreSQL, the simulated VNA and PACS, and `python -m pixl`
as a user runs it, delivering to FTPS (pyftpdlib, TLS), SFTP (paramiko) and DICOMweb
(Orthanc), the servers of conftest.py. Every exported study must arrive exactly once and
hold no patient identifier; a wrong password fails the study without showing the password,
and `pixl retry` delivers it once the secret is fixed; enqueueing again sends nothing."""

from __future__ import annotations

import json
import re
import shutil
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pyarrow.parquet as pq
import pydicom
import requests
import yaml
from pipeline_support import STUDIES, run_cli, wait_for_final

from pixl.demo import REPO_PROJECTS, PlannedStudy
from pixl.local_stack import DEFAULT_WORKERS, LocalStack
from pixl.records import Study, StudyStatus
from pixl.secrets import env_var_for
from pixl.synthetic import identifying_values
from uploaders.conftest import FTPSServer, OrthancServer
from uploaders.sftp_server import SFTPServerState

StackFactory = Callable[..., tuple[LocalStack, list[PlannedStudy], Path]]
Exported = list[tuple[PlannedStudy, Study]]

CT_MR, XRAY = "demo-ct-mr", "demo-xray"
PROCESS = DEFAULT_WORKERS[1]  # the worker that anonymises and uploads
WRONG_PASSWORD = "not-the-ftps-pa55word"


@dataclass
class ZipServer:
    """A server that stores one zip per study in a folder the test can read."""

    scheme: str
    host: str
    port: int
    root: Path
    writes: list[str]  # every path the server opened for writing, in order

    @classmethod
    def ftps(cls, server: FTPSServer) -> ZipServer:
        return cls("ftps", server.host, server.port, server.home, server.stored)

    @classmethod
    def sftp(cls, server: SFTPServerState) -> ZipServer:
        return cls("sftp", server.host, server.port, server.root, server.written)

    def clear(self, slug: str) -> None:
        """The servers live for the whole run: start the project's folder empty."""
        shutil.rmtree(self.root / slug, ignore_errors=True)


def projects_with(tmp_path: Path, destinations: dict[str, tuple[str, str]]) -> Path:
    """A copy of the repository's projects, each given its `(dicom, parquet)` destination."""
    folder = tmp_path / "projects"
    shutil.copytree(REPO_PROJECTS, folder)
    for slug, (dicom, parquet) in destinations.items():
        path = folder / f"{slug}.yaml"
        config = yaml.safe_load(path.read_text())
        config["destination"] = {"dicom": dicom, "parquet": parquet}
        path.write_text(yaml.safe_dump(config, sort_keys=False))
    return folder


def secrets_env(slug: str, destination: str, values: dict[str, str]) -> dict[str, str]:
    return {env_var_for(f"{slug}--{destination}--{name}"): v for name, v in values.items()}


def ftps_env(slug: str, server: FTPSServer, password: str | None = None) -> dict[str, str]:
    """The project's FTPS secrets, and the self-signed certificate as the trust store."""
    values = {"host": server.host, "port": str(server.port), "username": server.username}
    values["password"] = password or server.password
    return secrets_env(slug, "ftp", values) | {"SSL_CERT_FILE": str(server.cafile)}


def sftp_env(slug: str, server: SFTPServerState) -> dict[str, str]:
    """The project's SFTP secrets, with the server's host key (not "accept any key")."""
    values = {"host": server.host, "port": str(server.port), "username": server.username}
    values |= {"password": server.password, "known-host-key": server.host_key_line}
    return secrets_env(slug, "sftp", values)


def dicomweb_env(slug: str, server: OrthancServer) -> dict[str, str]:
    values = {"url": server.dicomweb_url, "username": server.username}
    return secrets_env(slug, "dicomweb", values | {"password": server.password})


def real_servers(broker: str, database: str, *parts: dict[str, str]) -> dict[str, str]:
    env = {"PIXL_BROKER_URL": broker, "PIXL_DATABASE_URL": database}
    for part in parts:
        env |= part
    return env


def enqueue(stack: LocalStack, cohort: Path) -> str:
    result = run_cli(stack.env, "enqueue", str(cohort))
    assert result.returncode == 0, result.stderr
    return result.stdout


def in_archives(slug: str, planned: list[PlannedStudy], final: dict[str, Study]) -> list[Study]:
    """The project's studies the plan put in the VNA or the PACS."""
    return [
        final[str(index)]
        for index, item in enumerate(planned, start=1)
        if item.project == slug and item.held_by != "nowhere"
    ]


def exported(slug: str, planned: list[PlannedStudy], final: dict[str, Study]) -> Exported:
    """The project's studies in an archive, each recorded exported with a location."""
    pairs = []
    for index, item in enumerate(planned, start=1):
        if item.project != slug or item.held_by == "nowhere":
            continue
        study = final[str(index)]
        assert study.status is StudyStatus.EXPORTED, (index, study.status, study.last_error)
        assert study.location and study.pseudo_study_uid
        pairs.append((item, study))
    assert pairs, f"the plan has no study of {slug} in an archive"
    return pairs


def expected_instances(item: PlannedStudy, study: Study) -> int:
    """Every planted instance: the first two series of a study are never scouts."""
    planted = item.spec.series_count * item.spec.instances_per_series
    assert item.spec.series_count <= 2 and study.n_instances == planted
    return planted


def identifiers(item: PlannedStudy) -> list[str]:
    return [value for value in identifying_values(item.spec) if len(value) >= 4]


def assert_deidentified(data: bytes, item: PlannedStudy, pseudo_study_uid: str) -> None:
    leaked = [value for value in identifiers(item) if value.encode() in data]
    assert not leaked, f"{len(leaked)} identifying values arrived at the destination"
    assert pydicom.dcmread(BytesIO(data)).StudyInstanceUID == pseudo_study_uid


def worker_log(stack: LocalStack) -> str:
    return (stack.logs / f"worker-{PROCESS.name}.log").read_text()


def uploads_logged(stack: LocalStack, slug: str, pseudo_study_uid: str) -> int:
    """How often a worker sent the study (a skipped upload logs another line)."""
    line = rf"uploaded project={re.escape(slug)} study={re.escape(pseudo_study_uid)}(\.zip)? "
    return len(re.findall(line, worker_log(stack)))


def assert_zips_delivered(stack: LocalStack, server: ZipServer, slug: str, pairs: Exported) -> None:
    """One zip per study at `<slug>/<pseudo study UID>.zip`, written once, nothing else."""
    folder = server.root / slug
    delivered = sorted(path.name for path in folder.iterdir() if path.is_file())
    assert delivered == sorted(f"{study.pseudo_study_uid}.zip" for _, study in pairs)
    for item, study in pairs:
        uid = str(study.pseudo_study_uid)
        where = f"{slug}/{uid}.zip"
        assert study.location == f"{server.scheme}://{server.host}:{server.port}/{where}"
        assert sum(path.endswith(f"{where}.part") for path in server.writes) == 1
        assert uploads_logged(stack, slug, uid) == 1
        with zipfile.ZipFile(folder / f"{uid}.zip") as archive:
            names = archive.namelist()
            assert len(names) == expected_instances(item, study)
            for name in names:
                assert not [value for value in identifiers(item) if value in name]
                assert_deidentified(archive.read(name), item, uid)


def orthanc_instances(server: OrthancServer, study_uid: str) -> list[str]:
    """Orthanc's IDs of the instances it holds of a study."""
    response = requests.post(
        f"{server.url}/tools/find",
        json={"Level": "Instance", "Query": {"StudyInstanceUID": study_uid}},
        auth=(server.username, server.password),
        timeout=10,
    )
    response.raise_for_status()
    found: list[str] = response.json()
    return sorted(found)


def assert_dicomweb_delivered(
    stack: LocalStack, server: OrthancServer, slug: str, pairs: Exported
) -> None:
    """Orthanc holds every instance under the pseudonymised StudyInstanceUID, sent once."""
    for item, study in pairs:
        uid = str(study.pseudo_study_uid)
        assert study.location == f"{server.dicomweb_url}/studies/{uid}"
        assert uploads_logged(stack, slug, uid) == 1
        instances = orthanc_instances(server, uid)
        assert len(instances) == expected_instances(item, study)
        for instance in instances:
            response = requests.get(
                f"{server.url}/instances/{instance}/file",
                auth=(server.username, server.password),
                timeout=10,
            )
            response.raise_for_status()
            assert_deidentified(response.content, item, uid)


def assert_parquet_exported(
    stack: LocalStack, server: ZipServer, slug: str, pairs: Exported
) -> None:
    """`pixl export` delivers the linker table (procedure -> pseudo study UID)."""
    result = run_cli(stack.env, "export", slug)
    assert result.returncode == 0, result.stderr
    linkers = list(server.root.glob(f"{slug}/*/parquet/radiology/radiology.parquet"))
    assert len(linkers) == 1, linkers
    rows = pq.read_table(linkers[0]).to_pylist()
    assert len(rows) == len(pairs)
    expected = {(int(study.procedure_occurrence_id), study.pseudo_study_uid) for _, study in pairs}
    assert {(row["procedure_occurrence_id"], row["pseudo_study_uid"]) for row in rows} == expected
    assert not list((server.root / slug).rglob("*.part")), "a half upload was left behind"


def files_on(server: ZipServer, slug: str) -> dict[Path, tuple[int, int]]:
    """Each file of the project at the server, with its inode and modification time."""
    files = [path for path in (server.root / slug).rglob("*") if path.is_file()]
    return {path: (path.stat().st_ino, path.stat().st_mtime_ns) for path in files}


def assert_enqueue_again_sends_nothing(
    stack: LocalStack, cohort: Path, servers: dict[str, ZipServer]
) -> None:
    """The same cohort again: nothing is published, written nor uploaded."""
    before = {slug: files_on(server, slug) for slug, server in servers.items()}
    writes = [len(server.writes) for server in servers.values()]
    uploads = worker_log(stack).count("uploaded project=")

    assert "total: enqueued 0 of" in enqueue(stack, cohort)
    time.sleep(2)

    assert {slug: files_on(server, slug) for slug, server in servers.items()} == before
    assert [len(server.writes) for server in servers.values()] == writes
    assert worker_log(stack).count("uploaded project=") == uploads


def test_ftps_and_sftp_deliver_each_study_once_and_enqueue_again_sends_nothing(
    stack_factory: StackFactory,
    rabbitmq_vhost: str,
    postgres_url: str,
    ftps_server: FTPSServer,
    sftp_server: SFTPServerState,
    tmp_path: Path,
) -> None:
    ftps, sftp = ZipServer.ftps(ftps_server), ZipServer.sftp(sftp_server)
    ftps.clear(CT_MR)
    sftp.clear(XRAY)
    projects = projects_with(tmp_path, {CT_MR: ("ftps", "ftps"), XRAY: ("sftp", "sftp")})
    env = real_servers(
        rabbitmq_vhost, postgres_url, ftps_env(CT_MR, ftps_server), sftp_env(XRAY, sftp_server)
    )
    stack, planned, cohort = stack_factory(env, projects_dir=projects)

    enqueue(stack, cohort)
    final = wait_for_final(STUDIES)

    for server, slug in ((ftps, CT_MR), (sftp, XRAY)):
        assert_zips_delivered(stack, server, slug, exported(slug, planned, final))
        assert_parquet_exported(stack, server, slug, exported(slug, planned, final))
    assert_enqueue_again_sends_nothing(stack, cohort, {CT_MR: ftps, XRAY: sftp})


def test_dicomweb_delivers_and_a_wrong_ftps_password_fails_until_fixed_and_retried(
    stack_factory: StackFactory,
    rabbitmq_vhost: str,
    postgres_url: str,
    ftps_server: FTPSServer,
    orthanc_dicomweb: OrthancServer,
    tmp_path: Path,
) -> None:
    ftps = ZipServer.ftps(ftps_server)
    ftps.clear(XRAY)
    projects = projects_with(tmp_path, {CT_MR: ("dicomweb", "none"), XRAY: ("ftps", "ftps")})
    fast_retries = {"PIXL_RETRIEVE_MAX_RETRIES": "1", "PIXL_RETRY_BACKOFF_SECONDS": "0.2"}
    env = real_servers(
        rabbitmq_vhost,
        postgres_url,
        dicomweb_env(CT_MR, orthanc_dicomweb),
        ftps_env(XRAY, ftps_server),
        fast_retries,
    )
    # The password lives in the secrets file, where an operator can correct it while the
    # workers run (a variable in a worker's environment cannot change).
    password_secret = f"{XRAY}--ftp--password"
    del env[env_var_for(password_secret)]
    stack, planned, cohort = stack_factory(env, projects_dir=projects)
    secrets_file = Path(stack.env["PIXL_DATA_DIR"]) / "secrets.json"
    secrets = json.loads(secrets_file.read_text())
    secrets_file.write_text(json.dumps(secrets | {password_secret: WRONG_PASSWORD}))

    enqueue(stack, cohort)
    final = wait_for_final(STUDIES)

    assert_dicomweb_delivered(stack, orthanc_dicomweb, CT_MR, exported(CT_MR, planned, final))
    refused = in_archives(XRAY, planned, final)
    for study in refused:
        assert study.status is StudyStatus.FAILED, (study.status, study.last_error)
        assert study.location is None
        error = study.last_error or ""
        assert error.startswith("upload: ") and f"'{XRAY}--ftp--password'" in error, error
        assert WRONG_PASSWORD not in error and ftps_server.password not in error
    assert not list((ftps.root / XRAY).rglob("*")), "a refused login wrote something"
    logs = "".join(path.read_text() for path in stack.logs.glob("*.log"))
    assert WRONG_PASSWORD not in logs and ftps_server.password not in logs
    # Each study tried twice (PIXL_RETRIEVE_MAX_RETRIES=1): one retry, then failed.
    assert logs.count(f"refused the login of user '{ftps_server.username}'") >= 2 * len(refused)

    # Correct the secret in the file and retry: the running workers read it again.
    secrets_file.write_text(json.dumps(secrets | {password_secret: ftps_server.password}))
    retried = run_cli(stack.env, "retry", "--project", XRAY)
    assert retried.returncode == 0, retried.stderr
    assert f"re-enqueued {len(refused)} studies" in retried.stdout
    final = wait_for_final(STUDIES)

    assert_zips_delivered(stack, ftps, XRAY, exported(XRAY, planned, final))
    assert_parquet_exported(stack, ftps, XRAY, exported(XRAY, planned, final))
    ct_mr = exported(CT_MR, planned, final)
    assert_dicomweb_delivered(stack, orthanc_dicomweb, CT_MR, ct_mr)
    uids = [str(study.pseudo_study_uid) for _, study in ct_mr]
    in_orthanc = {uid: orthanc_instances(orthanc_dicomweb, uid) for uid in uids}

    assert_enqueue_again_sends_nothing(stack, cohort, {XRAY: ftps})
    assert {uid: orthanc_instances(orthanc_dicomweb, uid) for uid in uids} == in_orthanc
