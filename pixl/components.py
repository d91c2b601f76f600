"""The pluggable parts, chosen once from settings and project configs, cached per process.

Archive (VNA, PACS), raw cache, throttle per archive, anonymiser per project, uploaders per
project: tasks ask for them here instead of deciding implementations themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from redis import Redis

from pixl.anon.config import ProjectConfig, load_project_config
from pixl.anon.engine import Anonymiser
from pixl.anon.pseudonyms import Pseudonymiser
from pixl.dicom.cache import FolderCache, RawCache
from pixl.dicom.orthanc import OrthancCache
from pixl.dicom.scu import DicomArchive
from pixl.secrets import HASH_KEY_SECRET, get_secret, project_salt_secret
from pixl.settings import Settings, get_settings
from pixl.throttle import ArchiveLimiter
from pixl.throttle.unlimited import Limiter, Unlimited
from pixl.uploaders import ParquetUploader, Uploader, make_parquet_uploader, make_uploader


def _folder_cache(settings: Settings) -> RawCache:
    assert settings.cache_dir is not None
    return FolderCache(settings.cache_dir, settings.cache_node)


def _orthanc_cache(settings: Settings) -> RawCache:
    return OrthancCache(
        settings.orthanc_url,
        settings.cache_node,
        settings.orthanc_username,
        settings.orthanc_password,
        timeout=settings.dicom_timeout_seconds,
    )


RAW_CACHES: dict[str, Callable[[Settings], RawCache]] = {
    "folder": _folder_cache,
    "orthanc": _orthanc_cache,
}


@lru_cache(maxsize=1)
def raw_cache() -> RawCache:
    settings = get_settings()
    return RAW_CACHES[settings.raw_cache](settings)


@lru_cache(maxsize=2)
def archive(name: str) -> DicomArchive | None:
    """The archive called `name` ("vna" or "pacs"), or None when it is not configured."""
    settings = get_settings()
    node = {"vna": settings.vna, "pacs": settings.pacs}[name]
    if node is None:
        return None
    return DicomArchive(node, settings.ae_title, timeout=settings.dicom_timeout_seconds)


@lru_cache(maxsize=1)
def redis() -> Redis | None:
    url = get_settings().redis_url
    return Redis.from_url(url) if url else None


@lru_cache(maxsize=2)
def limiter(archive_name: str) -> Limiter:
    """The cluster-wide limit on one archive (concurrent transfers, studies per second)."""
    settings = get_settings()
    store = redis()
    if store is None:
        return Unlimited(archive_name)
    return ArchiveLimiter(
        store,
        archive_name,
        lease_seconds=settings.throttle_lease_seconds,
        limits_file=settings.data_dir / "limits.json",
    )


@lru_cache(maxsize=64)
def project_config(slug: str) -> ProjectConfig:
    return load_project_config(get_settings().projects_dir, slug)


@lru_cache(maxsize=64)
def anonymiser(slug: str) -> Anonymiser:
    config = project_config(slug)
    pseudonymiser = Pseudonymiser(
        key=get_secret(HASH_KEY_SECRET).encode(),
        project_salt=get_secret(project_salt_secret(config.alias)).encode(),
    )
    return Anonymiser(config, pseudonymiser)


def _destination_name(value: object) -> str:
    return str(getattr(value, "value", value))


@lru_cache(maxsize=64)
def uploader(slug: str) -> Uploader:
    config = project_config(slug)
    settings = get_settings()
    assert settings.output_dir is not None
    name = _destination_name(config.destination.dicom)
    return make_uploader(name, config.alias, get_secret, settings.output_dir, project=config)


@lru_cache(maxsize=64)
def parquet_uploader(slug: str) -> ParquetUploader:
    config = project_config(slug)
    settings = get_settings()
    assert settings.output_dir is not None
    name = _destination_name(config.destination.parquet)
    return make_parquet_uploader(name, config.alias, get_secret, settings.output_dir)


def forget_destinations() -> None:
    """Drop cached uploaders and secrets, so the next upload reads its credentials again
    (after a refused login, say, once someone has corrected the secret)."""
    uploader.cache_clear()
    parquet_uploader.cache_clear()
    get_secret.cache_clear()
