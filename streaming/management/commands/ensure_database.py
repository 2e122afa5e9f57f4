"""``manage.py ensure_database``: create the PostgreSQL database of ``DATABASE_URL`` if it is missing.

Connects to the server's ``postgres`` maintenance database as the same user; does nothing on
the embedded default (SQLite creates its file itself). Safe to run again.
"""
import psycopg
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from psycopg import sql


class Command(BaseCommand):
    help = "Create the PostgreSQL database named by DATABASE_URL when it does not exist yet."

    def handle(self, *args, **options):
        db = settings.DATABASES["default"]
        if "postgresql" not in db["ENGINE"]:
            return
        params = {"host": db.get("HOST") or None, "port": db.get("PORT") or None, "user": db.get("USER") or None,
                  "password": db.get("PASSWORD") or None, "dbname": "postgres"}
        try:
            with psycopg.connect(**{k: v for k, v in params.items() if v}, autocommit=True) as conn:
                if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
                    return
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
        except psycopg.Error as exc:
            raise CommandError(f"could not create database {db['NAME']!r}: {exc}") from exc
        self.stdout.write(f"created database {db['NAME']}")
