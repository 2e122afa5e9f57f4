"""Serving a stored file with HTTP Range support (RFC 9110 §14), so audio players can seek.

Django's FileResponse always sends the whole file; browsers seeking in a long recording ask for
``Range: bytes=<first>-<last>`` and expect ``206 Partial Content``.
"""
import mimetypes
import re

from django.http import FileResponse, HttpResponse, StreamingHttpResponse

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 64 * 1024


def _chunks(handle, remaining):
    try:
        while remaining > 0:
            data = handle.read(min(CHUNK, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
    finally:
        handle.close()


def ranged_file_response(request, field_file):
    """200 with the whole file, 206 with the one range asked for, or 416 when it lies outside.

    Several ranges in one header are answered with the whole file (allowed by the RFC).
    """
    size = field_file.size
    content_type = mimetypes.guess_type(field_file.name)[0] or "application/octet-stream"
    match = _RANGE.match(request.headers.get("Range", "").strip())
    if not match or not any(match.groups()):
        response = FileResponse(field_file.open("rb"), content_type=content_type)
        response["Accept-Ranges"] = "bytes"
        return response
    first, last = match.groups()
    if first:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    else:  # "bytes=-N": the last N bytes
        start, end = max(0, size - int(last)), size - 1
    if start >= size or start > end:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    handle = field_file.open("rb")
    handle.seek(start)
    length = end - start + 1

    response = StreamingHttpResponse(_chunks(handle, length), status=206, content_type=content_type)
    response["Content-Length"] = str(length)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    return response
