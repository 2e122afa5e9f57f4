"""Exit 0 when the production services the second test pass needs (PostgreSQL, Redis) answer.

``make test`` runs the suite on the embedded default, then again over these services for the
modules whose behaviour depends on them (sequence numbers under row locks, the Redis channel
layer). ``PARLEY_REQUIRE_SERVICES=1`` (CI) turns their absence into a failure.
"""
import os
import socket
import sys
from urllib.parse import urlparse


def reachable(url, default_port):
    parts = urlparse(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or default_port), timeout=2):
            return True
    except OSError:
        return False


if __name__ == "__main__":
    database = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
    redis = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    missing = [name for name, url, port in (("PostgreSQL", database, 5432), ("Redis", redis, 6379))
               if not reachable(url, port)]
    if missing:
        print(f"{' and '.join(missing)} not reachable: the production-services test pass is skipped.")
        sys.exit(1 if os.environ.get("PARLEY_REQUIRE_SERVICES") == "1" else 2)
