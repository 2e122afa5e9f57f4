"""Provider accounts: encrypted at rest, write-only secrets, "Test connection" against each vendor's
fake on loopback, admin-only pages, audit entries without values, seeding from the environment."""
import io
import json
import logging

import pytest
from django.core.management import call_command
from django.db import connection

from meetings import providers
from meetings.models import AuditEntry, Membership, Provider, ProviderAccount
from meetings.providers import apply_changes, seed_from_environment, test_connection
from streaming.engines.symbl import client as symbl_client
from tests.accounts import provider_account
from tests.conftest import new_meeting
from tests.fakes.assemblyai import AssemblyAIFake
from tests.fakes.deepgram import DeepgramFake
from tests.fakes.http import serving
from tests.fakes.meetstream import MeetStreamFake
from tests.fakes.symbl import SymblEmulator
from tests.fakes.twilio import TwilioFake
from tests.fakes.zoom import ZoomFake
from tests.net import free_port

pytestmark = pytest.mark.django_db

SID = "AC" + "5f" * 16
OTHER_SID = "AC" + "a1" * 16
SYMBL_SECRET = "symbl-app-secret-4711"
ZOOM_CONFIG = {"account_id": "acme-zoom-account", "client_id": "acme-client"}
ZOOM_SECRETS = {"client_secret": "zoom-secret-4711"}


def signed_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def admin(client, charlie):
    return signed_in(client, charlie)


# -- the fakes, one per vendor, and Parley's settings pointed at them -----------------------------

@pytest.fixture
def symbl(settings):
    emulator = SymblEmulator(app_id="acme-app", app_secret=SYMBL_SECRET)
    with serving(emulator):
        settings.SYMBL_API_URL, settings.SYMBL_WS_URL = emulator.api_url, emulator.ws_url
        symbl_client._TOKENS.clear()
        yield emulator
    symbl_client._TOKENS.clear()


@pytest.fixture
def zoom(settings):
    with ZoomFake(**ZOOM_CONFIG, **ZOOM_SECRETS).serving() as fake:
        settings.ZOOM_OAUTH_URL = fake.oauth_url
        yield fake


@pytest.fixture
def twilio(settings):
    with TwilioFake(account_sid=SID, auth_token="twilio-token-4711", friendly_name="Acme calls").serving() as fake:
        settings.TWILIO_API_URL = fake.url
        yield fake


@pytest.fixture
def meetstream(settings):
    with MeetStreamFake(api_key="meetstream-key-4711").serving() as fake:
        settings.MEETSTREAM_API_URL = fake.api_url
        yield fake


@pytest.fixture
def deepgram(settings):
    with DeepgramFake(api_key="deepgram-key-4711", project="Acme speech").serving() as fake:
        settings.DEEPGRAM_API_URL = fake.url
        yield fake


@pytest.fixture
def assemblyai(settings):
    with AssemblyAIFake(api_key="assemblyai-key-4711").serving() as fake:
        settings.ASSEMBLYAI_API_URL = fake.url
        yield fake


# provider, fake fixture, good config, good secrets, (wrong field, wrong value), what success says, what the
# refusal says
CASES = [
    ("symbl", "symbl", {"app_id": "acme-app"}, {"app_secret": SYMBL_SECRET}, ("app_secret", "not-the-secret"),
     "Symbl issued an access token",
     "Symbl refused the app id or app secret: Unauthorized. Please check the appId and appSecret. (401)"),
    ("zoom", "zoom", ZOOM_CONFIG, ZOOM_SECRETS,
     ("client_secret", "wrong-zoom-secret"), "Zoom issued an access token (valid 3599 s)",
     "Zoom refused the client id or client secret: Invalid client_id or client_secret (401)"),
    ("twilio", "twilio", {"account_sid": SID}, {"auth_token": "twilio-token-4711"}, ("auth_token", "wrong-token"),
     "Twilio account “Acme calls” is active",
     "Twilio refused the account SID or auth token: Authenticate (401)"),
    ("meetstream", "meetstream", {}, {"api_key": "meetstream-key-4711"}, ("api_key", "wrong-key"),
     "MeetStream accepted the API key", "MeetStream refused the API key: Invalid token. (401)"),
    ("deepgram", "deepgram", {}, {"api_key": "deepgram-key-4711"}, ("api_key", "wrong-key"),
     "Deepgram accepted the API key (projects: Acme speech)",
     "Deepgram refused the API key: Invalid credentials. (401)"),
    ("assemblyai", "assemblyai", {}, {"api_key": "assemblyai-key-4711"}, ("api_key", "wrong-key"),
     "AssemblyAI accepted the API key",
     "AssemblyAI refused the API key: Authentication error, API token missing/invalid (401)"),
]


def test_every_provider_has_a_case_here():
    assert {case[0] for case in CASES} == set(Provider.values) == set(providers.PROVIDERS)


@pytest.mark.parametrize("provider,fake,config,secrets,wrong,success,refusal", CASES, ids=[c[0] for c in CASES])
def test_test_connection_succeeds_then_names_the_refused_credential(request, workspace, caplog, provider, fake,
                                                                    config, secrets, wrong, success, refusal):
    served = request.getfixturevalue(fake)
    acc = provider_account(workspace, provider, config, **secrets)
    caplog.set_level(logging.DEBUG)

    result = test_connection(acc)
    assert result.ok and result.message.startswith(success), result.message
    acc.refresh_from_db()
    assert acc.last_test_ok is True and acc.last_test_message == result.message and acc.last_test_at

    apply_changes(acc, config, {wrong[0]: wrong[1]})
    result = test_connection(acc)
    assert not result.ok and result.message == refusal
    acc.refresh_from_db()
    assert acc.last_test_ok is False and acc.last_test_message == refusal
    assert served.requests and served.requests[-1][2] == 401

    for secret in [*secrets.values(), wrong[1]]:
        assert secret not in caplog.text and secret not in acc.last_test_message


def test_twilio_returns_the_auth_token_yet_the_result_does_not_carry_it(twilio, workspace):
    # Twilio's account resource includes auth_token: only named fields may reach the message.
    result = test_connection(provider_account(workspace, "twilio", {"account_sid": SID},
                                              auth_token="twilio-token-4711"))
    assert result.ok and "twilio-token-4711" not in result.message


def test_a_malformed_twilio_sid_is_refused_before_asking_twilio(twilio, workspace):
    result = test_connection(provider_account(workspace, "twilio", {"account_sid": "AC123"},
                                              auth_token="twilio-token-4711"))
    assert not result.ok and "account SID AC123 is not AC followed by 32 hexadecimal digits" in result.message
    assert not twilio.requests


def test_the_twilio_fake_answers_404_for_an_account_the_credentials_do_not_own(twilio):
    import httpx

    response = httpx.get(f"{twilio.url}/2010-04-01/Accounts/{OTHER_SID}.json", auth=(SID, "twilio-token-4711"))
    assert response.status_code == 404 and response.json()["code"] == 20404


def test_a_wrong_zoom_account_id_is_named(zoom, workspace):
    result = test_connection(provider_account(workspace, "zoom", {**ZOOM_CONFIG, "account_id": "not-acme"},
                                              **ZOOM_SECRETS))
    assert not result.ok and result.message == "Zoom refused the account id: Invalid account_id (400)"


def test_zoom_says_whether_the_webhook_secret_token_is_set(zoom, workspace):
    acc = provider_account(workspace, "zoom", ZOOM_CONFIG, **ZOOM_SECRETS)
    assert "Webhook secret token: not set" in test_connection(acc).message
    apply_changes(acc, ZOOM_CONFIG, {"webhook_secret_token": "zoom-webhook-4711"})
    message = test_connection(acc).message
    assert "Webhook secret token: set; Zoom checks it when it calls us" in message
    assert "zoom-webhook-4711" not in message


def test_a_missing_required_field_is_named_without_a_request(zoom, workspace):
    result = test_connection(provider_account(workspace, "zoom", ZOOM_CONFIG))
    assert not result.ok and result.message == "a required field is not set: client secret"
    assert not zoom.requests


def test_an_unreachable_provider_says_where_and_why(settings, workspace):
    port = free_port()
    settings.DEEPGRAM_API_URL = f"http://127.0.0.1:{port}"
    result = test_connection(provider_account(workspace, "deepgram", api_key="deepgram-key-4711"))
    assert not result.ok
    assert result.message.startswith(f"could not reach http://127.0.0.1:{port}/v1/projects : ")
    assert "refused" in result.message.lower()


def test_an_unreachable_symbl_says_so(settings, workspace):
    settings.SYMBL_API_URL = f"http://127.0.0.1:{free_port()}"
    result = test_connection(provider_account(workspace, "symbl", {"app_id": "acme-app"}, app_secret=SYMBL_SECRET))
    assert not result.ok
    assert result.message.startswith(f"Symbl could not be reached at {settings.SYMBL_API_URL}: ConnectError")


# -- storage --------------------------------------------------------------------------------------

def test_secrets_are_encrypted_at_rest(admin, workspace):
    response = admin.post("/workspace/accounts/symbl/", {"app_id": "acme-app", "app_secret": SYMBL_SECRET})
    assert response.status_code == 302
    with connection.cursor() as cursor:
        cursor.execute("SELECT config, encrypted_secrets FROM meetings_provideraccount")
        (config, stored), = cursor.fetchall()
    assert "acme-app" in str(config)
    assert SYMBL_SECRET not in stored and stored.startswith("gAAAAA")  # a Fernet token
    acc = ProviderAccount.objects.get(workspace=workspace, provider="symbl")
    assert acc.secrets() == {"app_secret": SYMBL_SECRET} and acc.updated_by.username == "charlie"


# -- the write-only form ----------------------------------------------------------------------------

def test_a_stored_secret_is_shown_as_set_and_never_rendered(admin, workspace):
    provider_account(workspace, "zoom", ZOOM_CONFIG, **ZOOM_SECRETS)
    page = admin.get("/workspace/accounts/zoom/").content.decode()
    assert "zoom-secret-4711" not in page
    assert 'id="set-client_secret"' in page and 'id="set-webhook_secret_token"' not in page
    assert 'value="acme-client"' in page and 'value="acme-zoom-account"' in page
    assert 'name="clear_client_secret"' in page and 'name="clear_webhook_secret_token"' not in page
    assert 'type="password" name="client_secret"' in page and 'name="client_secret" value' not in page


def test_a_blank_secret_keeps_the_stored_one_and_clear_removes_it(admin, workspace):
    provider_account(workspace, "zoom", ZOOM_CONFIG, **ZOOM_SECRETS)
    admin.post("/workspace/accounts/zoom/", {"account_id": "acme-zoom-account", "client_id": "new-client",
                                             "client_secret": ""})
    acc = ProviderAccount.objects.get(workspace=workspace, provider="zoom")
    assert acc.config["client_id"] == "new-client" and acc.secrets() == {"client_secret": "zoom-secret-4711"}

    admin.post("/workspace/accounts/zoom/", {"account_id": "acme-zoom-account", "client_id": "new-client",
                                             "clear_client_secret": "on"})
    acc.refresh_from_db()
    assert acc.secrets() == {}
    page = admin.get("/workspace/accounts/zoom/").content.decode()
    assert 'id="set-client_secret"' not in page and "incomplete: client secret not set" in page


def test_a_new_value_and_clear_together_are_refused(admin, workspace):
    provider_account(workspace, "deepgram", api_key="deepgram-key-4711")
    response = admin.post("/workspace/accounts/deepgram/", {"api_key": "another-key", "clear_api_key": "on"})
    assert response.status_code == 200
    assert "Enter a new value or clear the stored one, not both." in response.content.decode()
    assert "another-key" not in response.content.decode()
    assert ProviderAccount.objects.get(provider="deepgram").secrets() == {"api_key": "deepgram-key-4711"}


def test_a_malformed_twilio_sid_is_a_form_error(admin, workspace):
    response = admin.post("/workspace/accounts/twilio/", {"account_sid": "AC-nope", "auth_token": "t"})
    assert "An account SID is AC followed by 32 hexadecimal digits." in response.content.decode()
    assert not ProviderAccount.objects.exists()


def test_the_list_shows_each_provider_status_and_last_test(admin, workspace, deepgram):
    acc = provider_account(workspace, "deepgram", api_key="wrong-key")
    test_connection(acc)
    provider_account(workspace, "zoom", {"client_id": "acme-client"})
    page = admin.get("/workspace/accounts/").content.decode()
    for spec in providers.PROVIDERS.values():
        assert f'id="account-{spec.slug}"' in page
    assert "Deepgram refused the API key: Invalid credentials. (401)" in page
    assert "incomplete: account id, client secret not set" in page
    assert page.count('<td class="status">not set</td>') == 4  # symbl, twilio, meetstream, assemblyai


def test_the_test_button_runs_the_check_and_shows_the_result(admin, workspace, meetstream):
    provider_account(workspace, "meetstream", api_key="meetstream-key-4711")
    response = admin.post("/workspace/accounts/meetstream/test/", follow=True)
    page = response.content.decode()
    assert '<p class="flash success">Test connection: MeetStream accepted the API key.' in page
    assert ProviderAccount.objects.get(provider="meetstream").last_test_ok is True
    assert [r[1] for r in meetstream.requests] == ["/api/v1/bots"]


def test_testing_an_account_not_set_up_says_so(admin, workspace):
    page = admin.post("/workspace/accounts/assemblyai/test/", follow=True).content.decode()
    assert "nothing to test yet, save the account first" in page


def test_an_unknown_provider_is_404(admin):
    assert admin.get("/workspace/accounts/skype/").status_code == 404


# -- who may -------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["alice", "dana"])
def test_members_and_reviewers_are_refused(request, client, workspace, who):
    signed_in(client, request.getfixturevalue(who))
    provider_account(workspace, "deepgram", api_key="deepgram-key-4711")
    assert client.get("/workspace/accounts/").status_code == 403
    assert client.get("/workspace/accounts/deepgram/").status_code == 403
    assert client.post("/workspace/accounts/deepgram/", {"api_key": "mine-now"}).status_code == 403
    assert client.post("/workspace/accounts/deepgram/test/").status_code == 403
    assert client.post("/workspace/accounts/deepgram/remove/").status_code == 403
    assert ProviderAccount.objects.get(provider="deepgram").secrets() == {"api_key": "deepgram-key-4711"}


def test_anonymous_goes_to_the_login_page(client):
    response = client.get("/workspace/accounts/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_another_workspaces_admin_sees_and_changes_only_their_own(client, workspace, bob, other_workspace):
    Membership.objects.filter(user=bob).update(role="admin")
    provider_account(workspace, "symbl", {"app_id": "acme-app"}, app_secret=SYMBL_SECRET)
    signed_in(client, bob)
    page = client.get("/workspace/accounts/symbl/").content.decode()
    assert "acme-app" not in page and 'id="set-app_secret"' not in page
    assert client.post("/workspace/accounts/symbl/remove/").status_code == 404
    client.post("/workspace/accounts/symbl/", {"app_id": "globex-app", "app_secret": "globex-secret"})
    acme = ProviderAccount.objects.get(workspace=workspace, provider="symbl")
    assert acme.config == {"app_id": "acme-app"} and acme.secrets() == {"app_secret": SYMBL_SECRET}
    assert ProviderAccount.objects.get(workspace=other_workspace, provider="symbl").config == {"app_id": "globex-app"}


def test_get_on_the_test_and_remove_actions_is_refused(admin, workspace):
    provider_account(workspace, "deepgram", api_key="deepgram-key-4711")
    assert admin.get("/workspace/accounts/deepgram/test/").status_code == 405
    assert admin.get("/workspace/accounts/deepgram/remove/").status_code == 405
    assert ProviderAccount.objects.filter(provider="deepgram").exists()


# -- audit ---------------------------------------------------------------------------------------

def test_changes_and_removal_are_audited_with_field_names_only(admin, workspace):
    admin.post("/workspace/accounts/twilio/", {"account_sid": SID, "auth_token": "twilio-token-4711"})
    admin.post("/workspace/accounts/twilio/", {"account_sid": SID, "auth_token": ""})  # nothing changed
    admin.post("/workspace/accounts/twilio/", {"account_sid": SID, "auth_token": "rotated-token-4711"})
    admin.post("/workspace/accounts/twilio/remove/")
    entries = list(AuditEntry.objects.filter(workspace=workspace).order_by("id"))
    assert [(e.action, e.details["fields"]) for e in entries] == [
        ("account.changed", ["account_sid", "auth_token"]),
        ("account.changed", ["auth_token"]),
        ("account.removed", ["account_sid", "auth_token"]),
    ]
    assert all(e.actor_name == "charlie" and e.details["provider"] == "twilio" for e in entries)
    logged = json.dumps([[e.target, e.details] for e in entries])
    assert "twilio-token-4711" not in logged and "rotated-token-4711" not in logged
    assert not ProviderAccount.objects.exists()


# -- seeding from the environment ----------------------------------------------------------------------

def test_the_environment_seeds_accounts_the_workspace_lacks(workspace):
    existing = provider_account(workspace, "deepgram", api_key="set-by-an-admin")
    environ = {"SYMBL_APP_ID": "env-app", "SYMBL_APP_SECRET": "env-symbl-secret", "ZOOM_CLIENT_ID": " env-client ",
               "DEEPGRAM_API_KEY": "env-deepgram-key", "TWILIO_AUTH_TOKEN": ""}
    created = seed_from_environment(workspace, environ)
    assert sorted(a.provider for a in created) == ["symbl", "zoom"]
    symbl = ProviderAccount.objects.get(workspace=workspace, provider="symbl")
    assert symbl.config == {"app_id": "env-app"} and symbl.secrets() == {"app_secret": "env-symbl-secret"}
    assert "env-symbl-secret" not in symbl.encrypted_secrets
    assert ProviderAccount.objects.get(provider="zoom").config == {"client_id": "env-client"}
    existing.refresh_from_db()
    assert existing.secrets() == {"api_key": "set-by-an-admin"}
    assert not ProviderAccount.objects.filter(provider="twilio").exists()
    entries = AuditEntry.objects.filter(action="account.changed").order_by("id")
    assert [(e.actor_name, e.details["source"], e.details["fields"]) for e in entries] == [
        ("system", "environment", ["app_id", "app_secret"]), ("system", "environment", ["client_id"])]
    assert seed_from_environment(workspace, environ) == []


def test_an_account_an_admin_removed_is_not_seeded_again(workspace, client, charlie):
    environ = {"DEEPGRAM_API_KEY": "env-deepgram-key"}
    assert [a.provider for a in seed_from_environment(workspace, environ)] == ["deepgram"]
    client.force_login(charlie)
    assert client.post("/workspace/accounts/deepgram/remove/").status_code == 302
    assert not ProviderAccount.objects.filter(provider="deepgram").exists()
    assert seed_from_environment(workspace, environ) == []


def test_ensure_admin_seeds_the_first_workspace(monkeypatch):
    for spec in providers.PROVIDERS.values():
        for field in spec.fields:
            monkeypatch.delenv(field.env, raising=False)
    monkeypatch.setenv("PARLEY_ADMIN_PASSWORD", "s3cret-enough")
    monkeypatch.setenv("MEETSTREAM_API_KEY", "env-meetstream-key")
    monkeypatch.setenv("MEETSTREAM_WEBHOOK_SECRET", "env-meetstream-webhook")
    out = io.StringIO()
    call_command("ensure_admin", stdout=out)
    call_command("ensure_admin", stdout=out)
    acc = ProviderAccount.objects.get()
    assert acc.provider == "meetstream" and acc.workspace.memberships.get().user.username == "admin"
    assert acc.secrets() == {"api_key": "env-meetstream-key", "webhook_secret": "env-meetstream-webhook"}
    assert out.getvalue().count("from the environment") == 1 and "env-meetstream" not in out.getvalue()


# -- the Symbl engine reads the workspace's account -------------------------------------------------------

def test_symbl_credentials_are_the_meetings_workspace_account(alice, workspace, other_workspace):
    from streaming.engines.symbl.client import NotConfigured
    from streaming.engines.symbl.credentials import symbl_credentials

    meeting = new_meeting(alice)
    with pytest.raises(NotConfigured, match="No Symbl app id and secret are set for workspace “Acme”: an "
                                            "admin sets them under Workspace → Provider accounts."):
        symbl_credentials(meeting)
    provider_account(other_workspace, "symbl", {"app_id": "globex-app"}, app_secret="globex-secret")
    with pytest.raises(NotConfigured):
        symbl_credentials(meeting)
    acc = provider_account(workspace, "symbl", {"app_id": "acme-app"})
    with pytest.raises(NotConfigured, match="workspace “Acme”"):
        symbl_credentials(meeting)
    apply_changes(acc, {"app_id": "acme-app"}, {"app_secret": SYMBL_SECRET})
    assert symbl_credentials(meeting) == ("acme-app", SYMBL_SECRET)


# -- each fake runs as its own process, as a developer starts it ------------------------------------------

@pytest.mark.parametrize("module,setting,path,provider,config,secrets", [
    ("zoom", "ZOOM_OAUTH_URL", "", "zoom", {"account_id": "parley-dev-account", "client_id": "parley-dev-client"},
     {"client_secret": "parley-dev-client-secret"}),
    ("twilio", "TWILIO_API_URL", "", "twilio", {"account_sid": "AC" + "0123456789abcdef" * 2},
     {"auth_token": "parley-dev-auth-token"}),
    ("meetstream", "MEETSTREAM_API_URL", "/api/v1", "meetstream", {}, {"api_key": "parley-dev-meetstream-key"}),
    ("deepgram", "DEEPGRAM_API_URL", "", "deepgram", {}, {"api_key": "parley-dev-deepgram-key"}),
    ("assemblyai", "ASSEMBLYAI_API_URL", "", "assemblyai", {}, {"api_key": "parley-dev-assemblyai-key"}),
])
def test_each_fake_runs_as_a_process_with_its_dev_credentials(settings, workspace, tmp_path, module, setting, path,
                                                              provider, config, secrets):
    import subprocess
    import sys

    from tests.net import wait_port

    port = free_port()
    log = open(tmp_path / f"{module}.log", "w")
    process = subprocess.Popen([sys.executable, "-m", f"tests.fakes.{module}", "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port)
        setattr(settings, setting, f"http://127.0.0.1:{port}{path}")
        result = test_connection(provider_account(workspace, provider, config, **secrets))
        assert result.ok, result.message
    finally:
        process.terminate()
        process.wait(10)
        log.close()
