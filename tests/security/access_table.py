"""The access table: one rule per URL of the URL conf and per WebSocket route.

``test_access_matrix`` walks ``django.urls.get_resolver()`` (through every include, the Django
admin's and ``django.contrib.auth.urls`` too) and ``streaming.routing.websocket_urlpatterns``, and
fails for any URL without a row here. Adding a URL means adding one line to :data:`TABLE`:

    "workspace:members": row(WORKSPACE_ADMIN, "GET"),
    "workspace:invite": row(WORKSPACE_ADMIN, "POST"),

``test_csrf`` and ``test_secrets`` read the same table (POST rows of browser rules are forms;
GET rows are the pages to grep for secrets).
"""
import fnmatch
import re
from dataclasses import dataclass

# --- Rules: who may do what. -------------------------------------------------------------------
PUBLIC = "public"  # anyone, signed in or not
SIGNED_IN = "signed-in"  # any signed-in user, whatever their workspaces
WORKSPACE_VIEW = "workspace:view"  # a role with VIEW in the *current* workspace (bob acts in Globex)
WORKSPACE_WRITE = "workspace:write"
WORKSPACE_ADMIN = "workspace:admin"
MEETING_VIEW = "meeting:view"  # VIEW in the workspace of the meeting in the path (Acme's)
MEETING_WRITE = "meeting:write"
MEETING_ADMIN = "meeting:admin"
OWNER = "owner"  # the signed-in user's own object (alice's API token); others get 404
TOKEN_VIEW = "token:view"  # the JSON API: a bearer token with VIEW in its workspace; sessions do not count
TOKEN_WRITE = "token:write"
TOKEN_MEETING_VIEW = "token:meeting-view"  # …and the meeting must be in the token's workspace
TOKEN_MEETING_WRITE = "token:meeting-write"
SIGNED = "signed"  # provider callbacks: only a request signed with the workspace's secret
STAFF = "staff"  # the Django admin: staff with model permissions (a superuser here)
WS_WATCH = "ws:watch"  # a WebSocket of a meeting: VIEW in its workspace
WS_STREAM = "ws:stream"  # a WebSocket that sends a meeting audio: WRITE in its workspace
WS_SIGNED = "ws:signed"  # a provider's socket (Twilio media stream): a session never opens it
WS_TOKEN = "ws:token"  # a socket whose path holds its credential (a bot's audio): whoever has the token

BROWSER_RULES = {PUBLIC, SIGNED_IN, WORKSPACE_VIEW, WORKSPACE_WRITE, WORKSPACE_ADMIN, MEETING_VIEW, MEETING_WRITE,
                 MEETING_ADMIN, OWNER, STAFF}
TOKEN_RULES = {TOKEN_VIEW, TOKEN_WRITE, TOKEN_MEETING_VIEW, TOKEN_MEETING_WRITE}

# --- Outcomes ---------------------------------------------------------------------------------
OK = "ok"  # served (2xx, 3xx elsewhere than a login page, or 400 for the empty form the matrix posts)
LOGIN = "login"  # redirected to the sign-in page with ?next=
ADMIN_LOGIN = "admin-login"  # redirected to the admin's sign-in page
UNSIGNED = "unsigned"  # 401 or 403: a callback without a valid signature

PERSONAS = ("anonymous", "bob", "dana", "alice", "charlie")
EXPECT = {
    PUBLIC: dict(anonymous=OK, bob=OK, dana=OK, alice=OK, charlie=OK),
    SIGNED_IN: dict(anonymous=LOGIN, bob=OK, dana=OK, alice=OK, charlie=OK),
    WORKSPACE_VIEW: dict(anonymous=LOGIN, bob=OK, dana=OK, alice=OK, charlie=OK),
    WORKSPACE_WRITE: dict(anonymous=LOGIN, bob=OK, dana=403, alice=OK, charlie=OK),
    WORKSPACE_ADMIN: dict(anonymous=LOGIN, bob=403, dana=403, alice=403, charlie=OK),
    MEETING_VIEW: dict(anonymous=LOGIN, bob=404, dana=OK, alice=OK, charlie=OK),
    MEETING_WRITE: dict(anonymous=LOGIN, bob=404, dana=403, alice=OK, charlie=OK),
    MEETING_ADMIN: dict(anonymous=LOGIN, bob=404, dana=403, alice=403, charlie=OK),
    OWNER: dict(anonymous=LOGIN, bob=404, dana=404, alice=OK, charlie=404),
    TOKEN_VIEW: dict(anonymous=401, bob=OK, dana=OK, alice=OK, charlie=OK),
    TOKEN_WRITE: dict(anonymous=401, bob=OK, dana=403, alice=OK, charlie=OK),
    TOKEN_MEETING_VIEW: dict(anonymous=401, bob=404, dana=OK, alice=OK, charlie=OK),
    TOKEN_MEETING_WRITE: dict(anonymous=401, bob=404, dana=403, alice=OK, charlie=OK),
    SIGNED: dict(anonymous=UNSIGNED, bob=UNSIGNED, dana=UNSIGNED, alice=UNSIGNED, charlie=UNSIGNED),
    STAFF: dict(anonymous=ADMIN_LOGIN, bob=ADMIN_LOGIN, dana=ADMIN_LOGIN, alice=ADMIN_LOGIN, charlie=ADMIN_LOGIN,
                root=OK),
    WS_WATCH: dict(anonymous=False, bob=False, dana=True, alice=True, charlie=True),
    WS_STREAM: dict(anonymous=False, bob=False, dana=False, alice=True, charlie=True),
    WS_SIGNED: dict(anonymous=False, bob=False, dana=False, alice=False, charlie=False),
    WS_TOKEN: dict(anonymous=True, bob=True, dana=True, alice=True, charlie=True),
}


@dataclass(frozen=True)
class Row:
    rules: dict  # method → rule
    query: str = ""  # a query string the matrix adds (a search term)

    @property
    def methods(self):
        return tuple(self.rules)

    def form_posts(self):
        """Whether a browser form posts here (so CSRF applies)."""
        return "POST" in self.rules and self.rules["POST"] in BROWSER_RULES


def row(rule, methods="GET", query=""):
    """A row: ``rule`` for each of ``methods`` ("GET", "POST", "GET POST"), or a dict method → rule."""
    rules = dict(rule) if isinstance(rule, dict) else {method: rule for method in methods.split()}
    return Row(rules, query)


# --- The table. Keys are ``namespace:name``; unnamed patterns are keyed by their route; ``*`` rows
# (fnmatch) cover the Django admin's generated URLs, the most specific pattern winning. ----------
TABLE = {
    # django.contrib.auth.urls
    "login": row(PUBLIC, "GET POST"),
    "logout": row(PUBLIC, "POST"),
    "password_change": row(SIGNED_IN, "GET POST"),
    "password_change_done": row(SIGNED_IN),
    "password_reset": row(PUBLIC, "GET POST"),
    "password_reset_done": row(PUBLIC),
    "password_reset_confirm": row(PUBLIC, "GET POST"),
    "password_reset_complete": row(PUBLIC),
    # meetings
    "meetings:list": row(WORKSPACE_VIEW),
    "meetings:start": row(WORKSPACE_WRITE, "GET POST"),
    "meetings:detail": row(MEETING_VIEW),
    "meetings:live": row(MEETING_VIEW),
    "meetings:review": row(MEETING_VIEW),
    "meetings:stop": row(MEETING_WRITE, "POST"),
    "meetings:recording": row(MEETING_VIEW),
    "meetings:export": row(MEETING_VIEW),
    "meetings:rename_speaker": row(MEETING_WRITE, "POST"),
    "meetings:edit_insight": row(MEETING_WRITE, "GET POST"),
    "meetings:search": row(WORKSPACE_VIEW, query="?q=budget"),
    "meetings:tokens": row(WORKSPACE_VIEW, "GET POST"),
    "meetings:revoke_token": row(OWNER, "POST"),
    # the JSON API
    "api-meetings": row({"GET": TOKEN_VIEW, "POST": TOKEN_WRITE}),
    "api-meeting": row(TOKEN_MEETING_VIEW),
    "api-meeting-stop": row(TOKEN_MEETING_WRITE, "POST"),
    "api-meeting-transcript": row(TOKEN_MEETING_VIEW),
    "api-search": row(TOKEN_VIEW, query="?q=budget"),
    # Zoom
    "streaming:zoom_webhook": row(SIGNED, "POST"),
    "streaming:zoom_new": row(WORKSPACE_WRITE, "GET POST"),
    "streaming:zoom_stream": row(MEETING_WRITE),
    "streaming:zoom_timeline": row(MEETING_WRITE, "POST"),
    # telephony
    "telephony:twilio-voice": row(SIGNED, "POST"),
    "telephony:dial-in-new": row(WORKSPACE_WRITE, "GET POST"),
    "telephony:dial-in": row(MEETING_VIEW),
    "telephony:dial-in-speaker": row(MEETING_WRITE, "POST"),
    "telephony:summary-recipients": row(MEETING_WRITE, "POST"),
    # meeting bots
    "bots:list": row(WORKSPACE_VIEW),
    "bots:new": row(WORKSPACE_WRITE, "GET POST"),
    "bots:detail": row(MEETING_VIEW),
    "bots:cancel": row(MEETING_WRITE, "POST"),
    "bots:callback": row(SIGNED, "POST"),
    "bots:live": row(SIGNED, "POST"),
    "bots:participants": row(SIGNED, "POST"),
    # workspaces, members, invitations, audit log (drafted against the views of the workspace helper)
    "workspace:home": row(WORKSPACE_VIEW),
    "workspace:members": row(WORKSPACE_VIEW),
    "workspace:invite": row(WORKSPACE_ADMIN, "POST"),
    "workspace:change_role": row(WORKSPACE_ADMIN, "POST"),
    "workspace:remove_member": row(WORKSPACE_ADMIN, "POST"),
    "workspace:revoke_invitation": row(WORKSPACE_ADMIN, "POST"),
    "workspace:switch": row(WORKSPACE_VIEW, "POST"),
    "workspace:audit": row(WORKSPACE_ADMIN),
    "workspace:new": row(SIGNED_IN, "GET POST"),
    "workspace:invitation": row(PUBLIC, "GET POST"),  # the link's token is the credential
    # provider accounts (secrets write-only)
    "accounts:list": row(WORKSPACE_ADMIN),
    "accounts:edit": row(WORKSPACE_ADMIN, "GET POST"),
    "accounts:test": row(WORKSPACE_ADMIN, "POST"),
    "accounts:remove": row(WORKSPACE_ADMIN, "POST"),
    # retention
    "retention:policy": row(WORKSPACE_ADMIN, "GET POST"),
    "retention:deletions": row(WORKSPACE_ADMIN),
    "retention:meeting": row(MEETING_ADMIN, "POST"),
    "retention:delete": row(MEETING_ADMIN, "POST"),
    # the Django admin
    "admin:login": row(PUBLIC, "GET POST"),
    "admin:logout": row(PUBLIC, "POST"),
    "admin:password_change": row(STAFF, "GET POST"),
    "admin:*_add": row(STAFF, "GET POST"),
    "admin:*_change": row(STAFF, "GET POST"),
    "admin:*_delete": row(STAFF, "GET POST"),
    "admin:*": row(STAFF),
}

# WebSocket routes, keyed by route; a provider's socket is one line: "telephony/twilio/media": WS_SIGNED,
WS_TABLE = {
    "ws/meetings/<int:meeting_id>/": WS_WATCH,
    "ws/meetings/<int:meeting_id>/audio/": WS_STREAM,
    "ws/bots/<str:bot_token>/audio": WS_TOKEN,
    "telephony/twilio/media": WS_SIGNED,
}

MISSING = ("add an access rule for {key} ({path}): one line in TABLE in tests/security/access_table.py, "
           "{key!r}: row(RULE, \"GET POST\"), RULE one of PUBLIC, SIGNED_IN, WORKSPACE_VIEW/WRITE/ADMIN, "
           "MEETING_VIEW/WRITE/ADMIN, OWNER, TOKEN_VIEW/WRITE, TOKEN_MEETING_VIEW/WRITE, SIGNED, STAFF")


def rule_for(key):
    """The :class:`Row` for ``key``: its exact row, else the most specific ``*`` row; None if none."""
    if key in TABLE:
        return TABLE[key]
    patterns = sorted((k for k in TABLE if "*" in k and fnmatch.fnmatchcase(key, k)), key=len, reverse=True)
    return TABLE[patterns[0]] if patterns else None


# --- Walking the URL conf ---------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    key: str  # "namespace:name", or "namespace:<route>" for an unnamed pattern
    route: str  # the full route, from the root, with its converters and groups
    params: tuple  # the path parameter names


PARAM = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")


def walk(resolver=None, prefix="", namespace=""):
    """Every URL pattern under ``resolver`` (the root URL conf when None), as :class:`Entry`."""
    from django.urls import URLResolver, get_resolver

    resolver = resolver or get_resolver()
    found = []
    for pattern in resolver.url_patterns:
        route = prefix + _text(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            found += walk(pattern, route, inner)
        else:
            key = namespace + (pattern.name or route)
            params = tuple(a or b for a, b in PARAM.findall(route))
            found.append(Entry(key, route, params))
    return found


def entries():
    """The URL conf's entries, one per key (the first, for a key that repeats), in order."""
    seen = {}
    for entry in walk():
        seen.setdefault(entry.key, entry)
    return list(seen.values())


def _text(pattern):
    return str(pattern).lstrip("^").rstrip("$")


def ws_path(route, values):
    """A WebSocket ``route`` with its parameters filled from ``values``."""
    return path_of(Entry(f"ws:{route}", route, tuple(a or b for a, b in PARAM.findall(route))), values)


def path_of(entry, values):
    """``entry``'s path with its parameters filled from ``values`` ({name: value})."""
    missing = [p for p in entry.params if p not in values]
    if missing:
        raise KeyError(f"no value for path parameter(s) {missing} of {entry.key}: add them to path_values() in "
                       "tests/security/test_access_matrix.py")
    return "/" + PARAM.sub(lambda m: str(values[m.group(1) or m.group(2)]), entry.route)
