"""Provisional lines are no longer rows: a snapshot reads them from the event log
(meetings.serializers.provisional_lines), so the persister writes nothing for a partial result."""
from django.db import migrations


def drop_provisional_rows(apps, schema_editor):
    apps.get_model("meetings", "Utterance").objects.filter(is_final=False).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("meetings", "0008_bots"),
    ]

    operations = [
        migrations.RunPython(drop_provisional_rows, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="utterance",
            name="is_final",
        ),
    ]
