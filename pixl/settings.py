"""Settings from `PIXL_*` environment variables (and an optional `.env`), validated once.

With nothing configured, every default selects the embedded mode: SQLite, kombu's
filesystem broker, the built-in DICOM cache over a local folder and a local folder
destination, all under `PIXL_DATA_DIR` (default `./pixl-data`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class DicomNode(BaseModel):
    """A DICOM application entity reachable over the network."""

    ae_title: str
    host: str = "127.0.0.1"
    port: int

    def __str__(self) -> str:
        return f"{self.ae_title}@{self.host}:{self.port}"


class Settings(BaseSettings):
    """Everything a pixl process needs to know about where things are."""

    model_config = SettingsConfigDict(
        env_prefix="PIXL_", env_file=".env", env_nested_delimiter="__", extra="ignore"
    )

    data_dir: Path = Path("pixl-data")
    projects_dir: Path = Path("projects")
    exports_dir: Path | None = None
    staging_dir: Path | None = None
    output_dir: Path | None = Field(
        default=None, description="Root of the local-folder destination."
    )
    secrets_file: Path | None = None

    database_url: str | None = None
    broker_url: str | None = None

    # DICOM: our own AE, the archives, and the raw cache that C-MOVEs land in.
    ae_title: str = "PIXL"
    vna: DicomNode | None = None
    pacs: DicomNode | None = None
    raw_cache: str = Field(default="folder", pattern="^(folder|orthanc)$")
    orthanc_url: str = "http://127.0.0.1:8042"
    orthanc_username: str | None = None
    orthanc_password: str | None = None
    cache_dir: Path | None = None
    cache_node: DicomNode = DicomNode(ae_title="PIXLCACHE", port=11112)
    dicom_timeout_seconds: float = 30.0

    # Celery beat: how often each scheduled job runs, and how long exported studies stay
    # in the raw cache.
    beat_export_seconds: float = 300.0
    beat_retry_seconds: float = 3600.0
    beat_clean_cache_seconds: float = 3600.0
    cache_keep_hours: float = 24.0 * 7

    # The PACS may only be queried inside these hours (see pixl/pacs_hours.py).
    pacs_hours: str = "mon-fri 20:00-07:00"
    pacs_timezone: str = "Europe/London"
    pacs_hours_check_seconds: float = 30.0

    # Throttling. Per worker: Celery's rate_limit and prefetch. Cluster-wide, per archive:
    # concurrent transfers and studies per second in Redis (`python -m pixl rate`).
    redis_url: str | None = None  # unset: embedded default, no cluster-wide limit
    throttle_wait_seconds: float = 300.0
    throttle_lease_seconds: float = 60.0
    retrieve_rate_limit: str = "5/s"
    max_messages_in_flight: int = 5
    retrieve_max_retries: int = 5
    retry_backoff_seconds: float = 2.0

    @model_validator(mode="after")
    def _derive_paths(self) -> Settings:
        root = self.data_dir
        self.exports_dir = self.exports_dir or root / "exports"
        self.staging_dir = self.staging_dir or root / "staging"
        self.output_dir = self.output_dir or root / "output"
        self.cache_dir = self.cache_dir or root / "cache"
        self.secrets_file = self.secrets_file or root / "secrets.json"
        if self.database_url is None:
            self.database_url = f"sqlite:///{(root / 'pixl.db').resolve()}"
        if self.broker_url is None:
            self.broker_url = "filesystem://localhost/"
        return self

    @property
    def broker_folder(self) -> Path:
        """Where the embedded filesystem broker keeps its messages."""
        return self.data_dir / "broker"

    @property
    def embedded_broker(self) -> bool:
        return str(self.broker_url).startswith("filesystem://")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()
