"""Each destination that runs here as a real server, end to end from the pipeline: real
workers on RabbitMQ, records in PostgreSQL, the simulated VNA and PACS, and `python -m pixl`
as a user runs it, delivering to FTPS (pyftpdlib, TLS), SFTP (paramiko) and DICOMweb
(Orthanc), the servers of conftest.py. Every exported study must arrive exactly once and
hold no patient identifier; a wrong password fails the study without showing the password,
and `pixl retry` delivers it once the secret is fixed; enqueueing again sends nothing."""

from __future__ import annotations

import shutil
import time
import zipfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pyarrow.parquet as pq
import pydicom
import requests
import yaml
from pipeline_support import STUDIES, run_cli, wait_for_final

from pixl.demo import REPO_PROJECTS, PlannedStudy
from pixl.local_stack import DEFAULT_WORKERS, LocalStack, stop_process
from pixl.records import Study, StudyStatus
from pixl.secrets import env_var_for
from pixl.synthetic import identifying_values
from uploaders.conftest import FTPSServer, OrthancServer
from uploaders.sftp_server import SFTPServerState

StackFactory = Callable[..., tuple[LocalStack, list[PlannedStudy], Path]]

CT_MR, XRAY = "demo-ct-mr", "demo-xray"
PROCESS = DEFAULT_WORKERS[1]
WRONG_PASSWORD = "not-the-ftps-pa55word"


def projects_with(tmp_path: Path, destinations: dict[str, tuple[str, str]]) -> Path:
    """A copy of the repository's projects, each named one given `(dicom, parquet)`."""
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


def clear(root: Path, *slugs: str) -> None:
    """Servers live for the whole run: start each project's folder empty."""
    for slug in slugs:
        shutil.rmtree(root / slug, ignore_errors=True)


def exported_of(
    slug: str, planned: list[PlannedStudy], final: dict[str, Study]
) -> list[tuple[PlannedStudy, Study]]:
    """The project's studies the plan put in an archive, each exported with a location."""
    pairs = []
    for index, item in enumerate(planned, start=1):
        if item.project != slug or item.held_by == "nowhere":
            continue
        study = final[str(index)]
        assert study.status is StudyStatus.EXPORTED, (index, study.status, study.last_error)
        assert study.location and study.pseudo_study_uid
        pairs.append((item, study))
    assert pairs, f"the plan has no study of {slug}"
    return pairs


def expected_instances(item: PlannedStudy, study: Study) -> int:
    """Every planted instance: the first two series of a study are never scouts."""
    planted = item.spec.series_count * item.spec.instances_per_series
    assert item.spec.series_count <= 2 and study.n_instances == planted
    return planted


def assert_deidentified(data: bytes, item: PlannedStudy, pseudo_study_uid: str) -> None:
    values = [v.encode() for v in identifying_values(item.spec) if len(v) >= 4]
    leaked = [v for v in values if v in data]
    assert not leaked, f"{len(leaked)} identifying values arrived at the destination"
    assert pydicom.dcmread(BytesIO(data)).StudyInstanceUID == pseudo_study_uid


def writes_of(writes: list[str], slug: str, pseudo_study_uid: str) -> int:
    """How often the server opened the study's zip for writing (always as `.part`)."""
    return sum(path.endswith(f"{slug}/{pseudo_study_uid}.zip.part") for path in writes)


def uploads_logged(stack: LocalStack, slug: str, pseudo_study_uid: str) -> int:
    log = (stack.logs / "worker-process.log").read_text()
    return log.count(f"uploaded project={slug} study={pseudo_study_uid}")


def assert_zips_delivered(
    stack: LocalStack,
    scheme: str,
    server: tuple[str, int, Path, list[str]],
    slug: str,
    pairs: list[tuple[PlannedStudy, Study]],
) -> None:
    """One zip per study at `<slug>/<pseudo study UID>.zip`, written once, nothing else."""
    host, port, root, writes = server
    folder = root / slug
    delivered = sorted(path.name for path in folder.iterdir() if path.is_file())
    assert delivered == sorted(f"{study.pseudo_study_uid}.zip" for _, study in pairs)
    for item, study in pairs:
        uid = str(study.pseudo_study_uid)
        assert study.location == f"{scheme}://{host}:{port}/{slug}/{uid}.zip"
        assert writes_of(writes, slug, uid) == 1
        assert uploads_logged(stack, slug, uid) == 1
        with zipfile.ZipFile(folder / f"{uid}.zip") as archive:
            names = archive.namelist()
            assert len(names) == expected_instances(item, study)
            for name in names:
                assert_deidentified(archive.read(name), item, uid)
                assert not any(v in name for v in identifying_values(item.spec) if len(v) >= 4)


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
    return found


def assert_dicomweb_delivered(
    stack: LocalStack, server: OrthancServer, slug: str, pairs: list[tuple[PlannedStudy, Study]]
) -> None:
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


def export_parquet(
    stack: LocalStack, root: Path, slug: str, pairs: list[tuple[PlannedStudy, Study]]
) -> None:
    """`pixl export` puts the linker table (procedure -> pseudo study UID) at the server."""
    result = run_cli(stack.env, "export", slug)
    assert result.returncode == 0, result.stderr
    linkers = list(root.glob(f"{slug}/*/parquet/radiology/radiology.parquet"))
    assert len(linkers) == 1, linkers
    rows = pq.read_table(linkers[0]).to_pylist()
    expected = {(int(s.procedure_occurrence_id), s.pseudo_study_uid) for _, s in pairs}
    assert {(r["procedure_occurrence_id"], r["pseudo_study_uid"]) for r in rows} == expected
    assert not list((root / slug).rglob("*.part")), "a half upload was left behind"


def snapshot(*folders: Path) -> dict[Path, tuple[int, int]]:
    return {
        path: (path.stat().st_ino, path.stat().st_mtime_ns)
        for folder in folders
        for path in folder.rglob("*")
        if path.is_file()
    }


def enqueue(stack: LocalStack, cohort: Path) -> str:
    result = run_cli(stack.env, "enqueue", str(cohort))
    assert result.returncode == 0, result.stderr
    return result.stdout


def assert_enqueue_again_sends_nothing(
    stack: LocalStack, cohort: Path, folders: list[Path], writes: list[list[str]]
) -> None:
    before, written, logged = snapshot(*folders), [len(w) for w in writes], worker_log(stack)
    assert "total: enqueued 0 of" in enqueue(stack, cohort)
    time.sleep(2)
    assert snapshot(*folders) == before
    assert [len(w) for w in writes] == written
    assert worker_log(stack).count("uploaded project=") == logged.count("uploaded project=")


def worker_log(stack: LocalStack) -> str:
    return (stack.logs / "worker-process.log").read_text()


def test_ftps_and_sftp_deliver_each_study_once_and_enqueue_again_sends_nothing(
    stack_factory: StackFactory,
    rabbitmq_vhost: str,
    postgres_url: str,
    ftps_server: FTPSServer,
    sftp_server: SFTPServerState,
    tmp_path: Path,
) -> None:
    clear(ftps_server.home, CT_MR)
    clear(sftp_server.root, XRAY)
    projects = projects_with(tmp_path, {CT_MR: ("ftps", "ftps"), XRAY: ("sftp", "sftp")})
    env = real_servers(
        rabbitmq_vhost, postgres_url, ftps_env(CT_MR, ftps_server), sftp_env(XRAY, sftp_server)
    )
    stack, planned, cohort = stack_factory(env, projects_dir=projects)

    enqueue(stack, cohort)
    final = wait_for_final(STUDIES)

    ftps = (ftps_server.host, ftps_server.port, ftps_server.home, ftps_server.stored)
    sftp = (sftp_server.host, sftp_server.port, sftp_server.root, sftp_server.written)
    assert_zips_delivered(stack, "ftps", ftps, CT_MR, exported_of(CT_MR, planned, final))
    assert_zips_delivered(stack, "sftp", sftp, XRAY, exported_of(XRAY, planned, final))
    export_parquet(stack, ftps_server.home, CT_MR, exported_of(CT_MR, planned, final))
    export_parquet(stack, sftp_server.root, XRAY, exported_of(XRAY, planned, final))

    assert_enqueue_again_sends_nothing(
        stack,
        cohort,
        [ftps_server.home / CT_MR, sftp_server.root / XRAY],
        [ftps_server.stored, sftp_server.written],
    )


def test_dicomweb_delivers_and_a_wrong_ftps_password_fails_until_fixed_and_retried(
    stack_factory: StackFactory,
    rabbitmq_vhost: str,
    postgres_url: str,
    ftps_server: FTPSServer,
    orthanc_dicomweb: OrthancServer,
    tmp_path: Path,
) -> None:
    clear(ftps_server.home, XRAY)
    projects = projects_with(tmp_path, {CT_MR: ("dicomweb", "none"), XRAY: ("ftps", "ftps")})
    fast_retries = {"PIXL_RETRIEVE_MAX_RETRIES": "1", "PIXL_RETRY_BACKOFF_SECONDS": "0.2"}
    env = real_servers(
        rabbitmq_vhost,
        postgres_url,
        dicomweb_env(CT_MR, orthanc_dicomweb),
        ftps_env(XRAY, ftps_server, password=WRONG_PASSWORD),
        fast_retries,
    )
    stack, planned, cohort = stack_factory(env, projects_dir=projects)

    enqueue(stack, cohort)
    final = wait_for_final(STUDIES)

    assert_dicomweb_delivered(stack, orthanc_dicomweb, CT_MR, exported_of(CT_MR, planned, final))
    refused = [
        final[str(index)]
        for index, item in enumerate(planned, start=1)
        if item.project == XRAY and item.held_by != "nowhere"
    ]
    for study in refused:
        assert study.status is StudyStatus.FAILED, (study.status, study.last_error)
        assert study.location is None
        error = study.last_error or ""
        assert error.startswith("upload: ") and f"'{XRAY}--ftp--password'" in error, error
        assert WRONG_PASSWORD not in error and ftps_server.password not in error
    assert not (ftps_server.home / XRAY).exists() or not list((ftps_server.home / XRAY).iterdir())
    logs = "".join(path.read_text() for path in stack.logs.glob("*.log"))
    assert WRONG_PASSWORD not in logs and ftps_server.password not in logs
    assert logs.count(f"refused the login of user '{ftps_server.username}'") >= 2 * len(refused)

    # Workers read secrets once: fix the secret, restart the worker that uploads, retry.
    stack.env |= ftps_env(XRAY, ftps_server)
    stop_process(stack.processes[f"worker-{PROCESS.name}"])
    stack.start_worker(PROCESS)
    retried = run_cli(stack.env, "retry", "--project", XRAY)
    assert retried.returncode == 0, retried.stderr
    assert f"re-enqueued {len(refused)} studies" in retried.stdout
    final = wait_for_final(STUDIES)

    ftps = (ftps_server.host, ftps_server.port, ftps_server.home, ftps_server.stored)
    assert_zips_delivered(stack, "ftps", ftps, XRAY, exported_of(XRAY, planned, final))
    assert_dicomweb_delivered(stack, orthanc_dicomweb, CT_MR, exported_of(CT_MR, planned, final))
    in_orthanc = {
        str(s.pseudo_study_uid): orthanc_instances(orthanc_dicomweb, str(s.pseudo_study_uid))
        for _, s in exported_of(CT_MR, planned, final)
    }

    assert_enqueue_again_sends_nothing(
        stack, cohort, [ftps_server.home / XRAY], [ftps_server.stored]
    )
    assert {uid: orthanc_instances(orthanc_dicomweb, uid) for uid in in_orthanc} == in_orthanc
