"""Provider accounts: a workspace's credentials for Symbl, Zoom, Twilio, the bot vendor and the
cloud speech engines. Secret fields are stored only Fernet-encrypted (``meetings.crypto``)."""
import json

from django.conf import settings
from django.db import models


class Provider(models.TextChoices):
    SYMBL = "symbl", "Symbl.ai"
    ZOOM = "zoom", "Zoom (Server-to-Server OAuth)"
    TWILIO = "twilio", "Twilio"
    MEETSTREAM = "meetstream", "MeetStream (meeting bots)"
    DEEPGRAM = "deepgram", "Deepgram"
    ASSEMBLYAI = "assemblyai", "AssemblyAI"


class ProviderAccount(models.Model):
    Provider = Provider

    workspace = models.ForeignKey("meetings.Workspace", on_delete=models.CASCADE, related_name="accounts")
    provider = models.CharField(max_length=20, choices=Provider.choices)
    # Fields that are not secret (Symbl app id, Zoom account and client ids, Twilio account SID).
    config = models.JSONField(default=dict, blank=True)
    # A Fernet token of the JSON object of secret fields; never rendered, logged or serialized.
    encrypted_secrets = models.TextField(blank=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    last_test_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True)
    last_test_message = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "provider"], name="account_unique_provider")]
        ordering = ["workspace", "provider"]

    def __str__(self):
        return f"{self.get_provider_display()} for {self.workspace}"

    def __repr__(self):
        return f"<ProviderAccount {self.provider} workspace={self.workspace_id}>"

    def secrets(self):
        """The decrypted secret fields, ``{name: value}``."""
        from meetings import crypto

        return json.loads(crypto.decrypt(self.encrypted_secrets)) if self.encrypted_secrets else {}

    def set_secrets(self, values):
        """Encrypt and keep ``values`` (``{name: value}``, replacing all secret fields); not saved."""
        from meetings import crypto

        self.encrypted_secrets = crypto.encrypt(json.dumps(values, sort_keys=True))

    def secret_names(self):
        """Names of the secret fields that are set, for showing "set" in forms."""
        return sorted(k for k, v in self.secrets().items() if v)
