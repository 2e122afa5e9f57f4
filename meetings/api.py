"""The JSON API, ``/api/v1/``: bearer-token authentication, JSON errors ``{"error": "..."}``."""
import json
from functools import wraps
from importlib import import_module

from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from . import audit, exports, search, sessions
from . import access
from .models import ApiToken, AuditEntry
from .serializers import meeting_detail, meeting_summary

TRUE = {"1", "true", "yes", "on"}


def error(message, status):
    return JsonResponse({"error": message}, status=status)


def authenticate(request):
    """The active :class:`ApiToken` of an ``Authorization: Bearer <token>`` header, or None.

    A token whose user is inactive or no longer a member of the token's workspace counts as none.
    """
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    found = (ApiToken.objects.active().select_related("user", "workspace")
             .filter(digest=ApiToken.hash(token.strip())).first())
    if found is None or not found.user.is_active or access.role_in(found.user, found.workspace) is None:
        return None
    ApiToken.objects.filter(pk=found.pk).update(last_used_at=timezone.now())
    return found


def api_view(*methods, ability=access.VIEW):
    """Bearer authentication, an allowed-methods check and the token's workspace role, all
    answered in JSON. Sets ``request.user``, ``request.api_token`` and ``request.workspace``."""

    def decorate(view):
        @csrf_exempt
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            token = authenticate(request)
            if token is None:
                response = error("Authentication required: send 'Authorization: Bearer <token>'.", 401)
                response["WWW-Authenticate"] = "Bearer"
                return response
            if request.method not in methods:
                response = error(f"Method {request.method} not allowed.", 405)
                response["Allow"] = ", ".join(methods)
                return response
            request.user, request.api_token, request.workspace = token.user, token, token.workspace
            if not access.can(token.user, token.workspace, ability):
                return error(f"Your role in {token.workspace} does not allow this.", 403)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


# ``POST /api/v1/meetings/`` starts a session of any source: the body's ``source`` picks the
# starter, ``starter(request, data) -> (meeting, extra)`` that raises SessionError (400) for bad
# input; ``extra`` is merged into the 201 answer (an RTMP URL and stream key, a bot's id, …).
STARTERS = {
    "upload": "meetings.api:start_upload",
    "zoom": "streaming.zoom.api:start",
    "dial_in": "telephony.api:start_dial_in",
    "bot": "meetings.bots.api:start",
}


def request_data(request):
    """The request's fields: a JSON object body, or form fields (multipart for uploads)."""
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError as exc:
            raise sessions.SessionError(f"The body is not valid JSON: {exc}.") from None
        if not isinstance(data, dict):
            raise sessions.SessionError("The body must be a JSON object.")
        return data
    return request.POST.dict()


@api_view("GET", "POST")
def meetings(request):
    if request.method == "GET":
        return JsonResponse({"meetings": [meeting_summary(m) for m in access.visible_meetings(request.user, request.workspace)[:200]]})
    if not access.can(request.user, request.workspace, access.WRITE):
        return error(f"Your role in {request.workspace} cannot start sessions.", 403)
    try:
        data = request_data(request)
        source = data.get("source") or "upload"
        if source not in STARTERS:
            raise sessions.SessionError(f"Unknown source {source!r}: use one of {', '.join(STARTERS)}.")
        module, attr = STARTERS[source].split(":")
        try:
            starter = getattr(import_module(module), attr)
        except (ImportError, AttributeError):
            raise sessions.SessionError(f"The {source!r} source cannot be started through the API yet.") from None
        meeting, extra = starter(request, data)
    except sessions.SessionError as exc:
        return error(str(exc), 400)
    return JsonResponse({**meeting_detail(meeting), **extra}, status=201)


def start_upload(request, data):
    """The upload starter: multipart with ``file``, ``title``, ``engine``, ``realtime``, ``trackers``
    (as on the start form)."""
    meeting = sessions.start_upload(
        request.user,
        request.workspace,
        upload=request.FILES.get("file"),
        title=data.get("title", ""),
        engine=data.get("engine") or None,
        realtime=str(data.get("realtime", "")).lower() in TRUE,
    )
    return meeting, {}


@api_view("GET")
def meeting(request, meeting_id):
    found, _ = access.meeting_for_user(request.user, meeting_id, request.workspace)
    if found is None:
        return error("No such meeting.", 404)
    return JsonResponse(meeting_detail(found))


@api_view("POST")
def stop(request, meeting_id):
    found, can_write = access.meeting_for_user(request.user, meeting_id, request.workspace)
    if found is None:
        return error("No such meeting.", 404)
    if not can_write:
        return error("You may not stop this meeting.", 403)
    try:
        if not sessions.stop(found):
            return error(f"The meeting has already ended ({found.status}).", 409)
    except sessions.SessionError as exc:
        return error(str(exc), 502)
    found.refresh_from_db()
    return JsonResponse(meeting_summary(found), status=202)


@api_view("GET")
def transcript(request, meeting_id, fmt):
    """``GET /api/v1/meetings/<id>/transcript.{txt,md,srt,vtt,json}``: the export as a download."""
    found, _ = access.meeting_for_user(request.user, meeting_id, request.workspace)
    if found is None:
        return error("No such meeting.", 404)
    if fmt not in exports.FORMATS:
        return error(f"Unknown format {fmt!r}: use one of {', '.join(exports.FORMATS)}.", 404)
    body, content_type, filename = exports.export(found, fmt)
    audit.record(request.user, found.workspace, AuditEntry.Action.EXPORT_DOWNLOADED, found, format=fmt, via="api")
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@api_view("GET")
def search_view(request):
    """``GET /api/v1/search?q=…&source=&engine=&date_from=&date_to=&speaker=&insight_type=&open_actions=&page=``

    200 ``{"query", "page", "has_more", "results": [{meeting, kind, insight_type, speaker,
    utterance_id, start_ms, snippet, rank, url}]}``; 400 ``{"error"}`` for a bad query or filter.
    """
    form = search.SearchForm(request.GET)
    if not form.is_valid():
        return error("; ".join(f"{k}: {e}" for k, errors in form.errors.items() for e in errors), 400)
    data = form.cleaned_data
    try:
        results = search.search(request.user, data["q"], data, workspace=request.workspace, page=data["page"] or 1)
    except search.QueryError as exc:
        return error(str(exc), 400)
    return JsonResponse({
        "query": data["q"],
        "page": results.page,
        "has_more": results.has_more,
        "results": [hit.as_json(request) for hit in results.hits],
    })
