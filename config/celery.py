"""The Celery app. On the embedded default tasks run eagerly in-process (no broker to install);
with ``REDIS_URL`` they go through Redis to ``celery -A config worker`` and ``celery -A config beat``."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("parley")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Task modules autodiscovery (each app's ``tasks``) does not reach: workers import them at start.
app.conf.imports = ["meetings.bots.tasks", "streaming.zoom.tasks", "telephony.notify"]
