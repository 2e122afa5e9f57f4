"""The full-text index of ``SearchEntry``, per database vendor, and entries for existing meetings.

PostgreSQL: a BEFORE INSERT OR UPDATE OF text trigger keeps the stored ``vector`` column equal to
``to_tsvector('english', text)``, and a GIN index serves ``@@``. SQLite: an external-content FTS5
table over ``text`` (porter stemmer on unicode61) kept in step by three triggers.

On SQLite, Django rebuilds a table to alter it, which drops its triggers: a later migration that
alters ``meetings_searchentry`` must run ``SQLITE_TRIGGERS`` again.
"""
from django.db import migrations

POSTGRES_FORWARD = [
    """CREATE FUNCTION meetings_searchentry_vector() RETURNS trigger AS $$
       BEGIN NEW.vector := to_tsvector('english', coalesce(NEW.text, '')); RETURN NEW; END
       $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER meetings_searchentry_vector BEFORE INSERT OR UPDATE OF text ON meetings_searchentry
       FOR EACH ROW EXECUTE FUNCTION meetings_searchentry_vector()""",
    "CREATE INDEX searchentry_vector_gin ON meetings_searchentry USING gin (vector)",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS searchentry_vector_gin",
    "DROP TRIGGER IF EXISTS meetings_searchentry_vector ON meetings_searchentry",
    "DROP FUNCTION IF EXISTS meetings_searchentry_vector()",
]
SQLITE_TRIGGERS = [
    """CREATE TRIGGER meetings_searchentry_ai AFTER INSERT ON meetings_searchentry BEGIN
       INSERT INTO meetings_searchentry_fts(rowid, text) VALUES (new.id, new.text); END""",
    """CREATE TRIGGER meetings_searchentry_ad AFTER DELETE ON meetings_searchentry BEGIN
       INSERT INTO meetings_searchentry_fts(meetings_searchentry_fts, rowid, text) VALUES ('delete', old.id, old.text);
       END""",
    """CREATE TRIGGER meetings_searchentry_au AFTER UPDATE OF text ON meetings_searchentry BEGIN
       INSERT INTO meetings_searchentry_fts(meetings_searchentry_fts, rowid, text) VALUES ('delete', old.id, old.text);
       INSERT INTO meetings_searchentry_fts(rowid, text) VALUES (new.id, new.text); END""",
]
SQLITE_FORWARD = [
    """CREATE VIRTUAL TABLE meetings_searchentry_fts USING fts5(
       text, content='meetings_searchentry', content_rowid='id', tokenize='porter unicode61')""",
    *SQLITE_TRIGGERS,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS meetings_searchentry_ai",
    "DROP TRIGGER IF EXISTS meetings_searchentry_ad",
    "DROP TRIGGER IF EXISTS meetings_searchentry_au",
    "DROP TABLE IF EXISTS meetings_searchentry_fts",
]
# Entries for what existed before the index: the same rows meetings.search writes on save.
BACKFILL = [
    """INSERT INTO meetings_searchentry (meeting_id, kind, text)
       SELECT id, 'title', title FROM meetings_meeting""",
    """INSERT INTO meetings_searchentry (meeting_id, kind, speaker_id, said_by_id, text)
       SELECT meeting_id, 'speaker', id, id, name FROM meetings_speaker""",
    """INSERT INTO meetings_searchentry (meeting_id, kind, utterance_id, said_by_id, text)
       SELECT meeting_id, 'utterance', id, speaker_id, text FROM meetings_utterance WHERE is_final""",
    """INSERT INTO meetings_searchentry (meeting_id, kind, insight_id, said_by_id, text)
       SELECT i.meeting_id, 'insight', i.id,
              (SELECT u.speaker_id FROM meetings_insight_utterances l JOIN meetings_utterance u ON u.id = l.utterance_id
               WHERE l.insight_id = i.id ORDER BY u.start_ms, u.id LIMIT 1),
              i.text
       FROM meetings_insight i""",
    """INSERT INTO meetings_searchentry (meeting_id, kind, topic_id, text)
       SELECT meeting_id, 'topic', id, phrase FROM meetings_topic""",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor, [])
        for statement in statements:
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("meetings", "0002_search_entry")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES_FORWARD + BACKFILL, "sqlite": SQLITE_FORWARD + BACKFILL}),
            _run({"postgresql": POSTGRES_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        ),
    ]
