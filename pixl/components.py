"""The pluggable parts, chosen once from settings and project configs, cached per process.

Archive (VNA, PACS), raw cache, anonymiser per project, uploader per project: tasks ask for
them here instead of deciding implementations themselves.
"""

from __future__ import annotations

from functools import lru_cache

from pixl.anon.config import ProjectConfig, load_project_config
from pixl.anon.engine import Anonymiser
from pixl.anon.pseudonyms import Pseudonymiser
from pixl.dicom.cache import FolderCache, RawCache
from pixl.dicom.scu import DicomArchive
from pixl.secrets import HASH_KEY_SECRET, get_secret, project_salt_secret
from pixl.settings import get_settings
from pixl.uploaders import Uploader, make_uploader


@lru_cache(maxsize=1)
def raw_cache() -> RawCache:
    settings = get_settings()
    assert settings.cache_dir is not None
    return FolderCache(settings.cache_dir, settings.cache_node)


@lru_cache(maxsize=2)
def archive(name: str) -> DicomArchive | None:
    """The archive called `name` ("vna" or "pacs"), or None when it is not configured."""
    settings = get_settings()
    node = {"vna": settings.vna, "pacs": settings.pacs}[name]
    if node is None:
        return None
    return DicomArchive(node, settings.ae_title, timeout=settings.dicom_timeout_seconds)


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


@lru_cache(maxsize=64)
def uploader(slug: str) -> Uploader:
    config = project_config(slug)
    settings = get_settings()
    assert settings.output_dir is not None
    destination = config.destination.dicom
    name = str(getattr(destination, "value", destination))
    return make_uploader(name, config.alias, get_secret, settings.output_dir)
