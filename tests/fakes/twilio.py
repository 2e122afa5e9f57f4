"""Twilio's REST API (2010-04-01), the account resource, on loopback (aiohttp).

* ``GET /2010-04-01/Accounts/{AccountSid}.json`` with HTTP Basic ``AccountSid:AuthToken`` → 200,
  the Account resource (``sid``, ``friendly_name``, ``status``, ``type``, ``auth_token``, …):
  https://www.twilio.com/docs/iam/api/account#fetch-an-account-resource

It refuses what Twilio refuses, with Twilio's error shape ``{"code", "message", "more_info",
"status"}`` (https://www.twilio.com/docs/usage/twilios-response#response-formats-exceptions):
missing or wrong credentials → 401 error 20003 ``Authenticate``; an account the credentials do not
own → 404 error 20404 (https://www.twilio.com/docs/api/errors/20404).

Later issues extend it with Calls, Streams and signed webhooks.
"""
from datetime import datetime, timezone
from email.utils import format_datetime

from aiohttp import web

from .http import LoopbackFake, basic_credentials, json_error, serve_main

DEV_SID = "AC" + "0123456789abcdef" * 2


class TwilioFake(LoopbackFake):
    name = "twilio"

    def __init__(self, *, account_sid=DEV_SID, auth_token="parley-dev-auth-token", friendly_name="Parley test account"):
        super().__init__()
        self.accounts = {account_sid: {"token": auth_token, "friendly_name": friendly_name}}
        self.created = format_datetime(datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc))

    def routes(self):
        return [web.get("/2010-04-01/Accounts/{sid}.json", self.fetch_account)]

    def _authenticate(self, request):
        credentials = basic_credentials(request)
        account = self.accounts.get(credentials[0]) if credentials else None
        if account is None or account["token"] != credentials[1]:
            raise json_error(401, {"code": 20003, "message": "Authenticate",
                                   "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401})
        return credentials[0]

    async def fetch_account(self, request):
        caller = self._authenticate(request)
        sid = request.match_info["sid"]
        if sid != caller:
            raise json_error(404, {"code": 20404, "message": f"The requested resource {request.path} was not found",
                                   "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404})
        account = self.accounts[sid]
        return web.json_response({
            "sid": sid, "owner_account_sid": sid, "friendly_name": account["friendly_name"], "status": "active",
            "type": "Full", "auth_token": account["token"], "date_created": self.created, "date_updated": self.created,
            "uri": f"/2010-04-01/Accounts/{sid}.json",
            "subresource_uris": {"calls": f"/2010-04-01/Accounts/{sid}/Calls.json"},
        })


def describe(fake):
    """Twilio's account API on loopback."""
    return f"Twilio fake: TWILIO_API_URL={fake.url} accounts {', '.join(fake.accounts)}"


def main(argv=None):
    serve_main(TwilioFake, argv, prog="python -m tests.fakes.twilio", describe=describe, options=[
        ("--account-sid", DEV_SID, "the account SID (AC + 32 hex digits)"),
        ("--auth-token", "parley-dev-auth-token", "its auth token"),
    ])


if __name__ == "__main__":
    main()
