"""The edge's half of the control-character rule (`folio_platform.text`): every route, one check.

An app-wide dependency looks at what a request carries — path and query parameters, form fields,
a JSON body — before any handler runs, and answers 400 naming the field that holds a control
character (a page shows the error page with the same status). The gRPC services check again.
"""

import json

from fastapi import Request

from folio_platform.errors import InvalidArgument
from folio_platform.text import check_json, check_text
from folio_storefront.errors import BadRequest

# Form and JSON fields that may hold line breaks: the admin's book description.
MULTILINE = frozenset({"description"})
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


async def refuse_control_characters(request: Request) -> None:
    """400 naming the first parameter or field that holds a control character."""
    try:
        for name, value in request.path_params.items():
            check_text(name, str(value))
        for name, value in request.query_params.multi_items():
            check_text(name, name)
            check_text(name, value)
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(_FORMS):
            for name, value in (await request.form()).multi_items():
                check_text(name, name)
                if isinstance(value, str):
                    check_text(name, value, multiline=name in MULTILINE)
        elif content_type.startswith("application/json"):
            try:
                body = json.loads(await request.body())
            except (ValueError, RecursionError):
                return  # FastAPI answers a body that is not JSON (or nested too deep) with its own 400
            check_json(body, multiline=MULTILINE)
    except InvalidArgument as error:
        raise BadRequest(error.message, field=error.field) from None
