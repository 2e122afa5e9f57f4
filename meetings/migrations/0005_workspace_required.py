"""Existing data joins one workspace, "My workspace": every meeting and API token, and every user,
as admin if they were staff (who could see every meeting before) and as member otherwise. Then
a meeting and an API token must have a workspace."""
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def adopt(apps, schema_editor):
    Workspace = apps.get_model("meetings", "Workspace")
    Membership = apps.get_model("meetings", "Membership")
    Meeting = apps.get_model("meetings", "Meeting")
    ApiToken = apps.get_model("meetings", "ApiToken")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    if not (Meeting.objects.exists() or ApiToken.objects.exists() or User.objects.exists()):
        return
    workspace = Workspace.objects.create(name="My workspace")
    for user in User.objects.all():
        role = "admin" if user.is_staff or user.is_superuser else "member"
        Membership.objects.create(workspace=workspace, user=user, role=role)
    Meeting.objects.filter(workspace__isnull=True).update(workspace=workspace)
    ApiToken.objects.filter(workspace__isnull=True).update(workspace=workspace)


class Migration(migrations.Migration):
    dependencies = [
        ("meetings", "0004_workspaces"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(adopt, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="meeting",
            name="workspace",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="meetings",
                                    to="meetings.workspace"),
        ),
        migrations.AlterField(
            model_name="apitoken",
            name="workspace",
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="api_tokens",
                                    to="meetings.workspace"),
        ),
    ]
