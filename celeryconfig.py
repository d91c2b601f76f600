"""Celery configuration for pixl: queues, routing, prefetch, acks and limits, in one place.

Topology (one topic exchange, `pixl`):

    routing key      queue       task                      who consumes it
    retrieve.primary primary     pixl.retrieve_primary     retrieval workers (VNA)
    retrieve.secondary secondary pixl.retrieve_secondary   retrieval workers (PACS)
    anonymise        anonymise   pixl.anonymise            CPU workers
    upload           upload      pixl.upload               delivery workers

Retrieval is throttled twice: Celery's `rate_limit` per worker process (below) and a
cluster-wide limit per archive. Throttled tasks have queues of their own because a
rate-limited message holds a prefetch slot while it waits.
"""

from __future__ import annotations

from kombu import Exchange, Queue

from pixl.settings import get_settings

_settings = get_settings()

broker_url = _settings.broker_url
if _settings.embedded_broker:
    # Embedded default: kombu's filesystem transport, so no broker server is needed.
    _folder = _settings.broker_folder.resolve()
    (_folder / "queue").mkdir(parents=True, exist_ok=True)
    broker_transport_options = {
        "data_folder_in": str(_folder / "queue"),
        "data_folder_out": str(_folder / "queue"),
        # Exchange bindings live here; kombu's default is a folder relative to the cwd.
        "control_folder": str(_folder / "control"),
        "store_processed": False,
        "polling_interval": 0.1,
    }
broker_connection_retry_on_startup = True

# Pipeline state lives in the records (SQLAlchemy), not in Celery results.
task_ignore_result = True
result_backend = None

pixl_exchange = Exchange("pixl", type="topic", durable=True)
# A message whose task fails unexpectedly is rejected, not acked, and RabbitMQ moves it to
# `dead-letter` (the record says why, see pixl/tasks/failures.py). Job priority 1-5 from the
# cohort uses RabbitMQ priority queues; the filesystem broker ignores both arguments.
dead_letter_exchange = Exchange("pixl.dead", type="fanout", durable=True)
_arguments = {"x-max-priority": 5, "x-dead-letter-exchange": "pixl.dead"}
task_queues = (
    Queue("primary", pixl_exchange, routing_key="retrieve.primary", queue_arguments=_arguments),
    Queue("secondary", pixl_exchange, routing_key="retrieve.secondary", queue_arguments=_arguments),
    Queue("anonymise", pixl_exchange, routing_key="anonymise", queue_arguments=_arguments),
    Queue("upload", pixl_exchange, routing_key="upload", queue_arguments=_arguments),
    Queue("housekeeping", pixl_exchange, routing_key="housekeeping"),
    Queue("dead-letter", dead_letter_exchange, routing_key="#"),
)
task_routes = {
    "pixl.retrieve_primary": {"exchange": "pixl", "routing_key": "retrieve.primary"},
    "pixl.retrieve_secondary": {"exchange": "pixl", "routing_key": "retrieve.secondary"},
    "pixl.anonymise": {"exchange": "pixl", "routing_key": "anonymise"},
    "pixl.upload": {"exchange": "pixl", "routing_key": "upload"},
    "pixl.export_extracts": {"exchange": "pixl", "routing_key": "housekeeping"},
    "pixl.retry_failed": {"exchange": "pixl", "routing_key": "housekeeping"},
    "pixl.clean_cache": {"exchange": "pixl", "routing_key": "housekeeping"},
}

# Celery beat (`python -m pixl beat`). Run one; a second does no harm (see tasks/scheduled.py).
beat_schedule = {
    "export-finished-extracts": {
        "task": "pixl.export_extracts",
        "schedule": _settings.beat_export_seconds,
    },
    "retry-failed-studies": {"task": "pixl.retry_failed", "schedule": _settings.beat_retry_seconds},
    "clean-raw-cache": {"task": "pixl.clean_cache", "schedule": _settings.beat_clean_cache_seconds},
}
task_default_queue = "primary"
task_default_exchange = "pixl"
task_default_exchange_type = "topic"
task_default_routing_key = "retrieve.primary"
# A misspelt queue must fail loudly, not create a queue nobody consumes.
task_create_missing_queues = False

# At-least-once: acknowledge after the task ran, and put the message back if the worker
# process dies mid-task. Tasks are idempotent (they check the record first).
task_acks_late = True
task_reject_on_worker_lost = True
# A task that raises (not a retry) is rejected without requeue: dead-lettered, never lost.
task_acks_on_failure_or_timeout = False
# Prefetch = multiplier x concurrency. Retrieval workers run with concurrency
# PIXL_MAX_MESSAGES_IN_FLIGHT (5) and multiplier 1: at most 5 studies in flight per worker.
worker_prefetch_multiplier = 1
worker_max_tasks_per_child = 500
# A study stuck in one task longer than this is killed and retried (deadline).
task_time_limit = 1800
task_soft_time_limit = 1500

task_annotations = {
    "pixl.retrieve_primary": {"rate_limit": _settings.retrieve_rate_limit},
    "pixl.retrieve_secondary": {"rate_limit": _settings.retrieve_rate_limit},
}

# A chain publishes its next task from inside the worker: ride out a broker restart of a
# minute or so instead of failing the study (the message is redelivered anyway).
task_publish_retry = True
task_publish_retry_policy = {
    "max_retries": 30,
    "interval_start": 0.5,
    "interval_step": 1.0,
    "interval_max": 5.0,
}

task_serializer = "json"
accept_content = ["json"]
worker_hijack_root_logger = False
worker_send_task_events = True
task_send_sent_event = True
