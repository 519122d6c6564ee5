"""Opaque page tokens: an offset bound to the filters it was issued for.

A token reused with other filters would silently page through the wrong list, so the
token carries a fingerprint of the request's filters and is refused if they differ.
"""

import base64
import hashlib

from folio_platform.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
# Totals are int32 in the protos, so no issued token holds a larger offset.
MAX_OFFSET = 2**31 - 1


def page_size(requested: int) -> int:
    """The page size to use: 0 means the default; outside 1-100 is refused."""
    if requested == 0:
        return DEFAULT_PAGE_SIZE
    if not 1 <= requested <= MAX_PAGE_SIZE:
        raise InvalidArgument("page_size", f"must be between 1 and {MAX_PAGE_SIZE} (got {requested})")
    return requested


def _fingerprint(*filters: object) -> str:
    return hashlib.sha256(repr(filters).encode()).hexdigest()[:12]


def encode(offset: int, *filters: object) -> str:
    return base64.urlsafe_b64encode(f"{offset}:{_fingerprint(*filters)}".encode()).decode().rstrip("=")


def decode(token: str, *filters: object) -> int:
    """The offset in `token` (0 for an empty token); refuses tokens that are malformed or for other filters."""
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        offset_text, fingerprint = raw.split(":", 1)
        offset = int(offset_text)
        if offset > MAX_OFFSET:
            raise ValueError(offset)
    except ValueError:
        raise InvalidArgument("page_token", "is not a token this service issued") from None
    if offset < 0 or fingerprint != _fingerprint(*filters):
        raise InvalidArgument("page_token", "belongs to a different query; start again without a page token")
    return offset


def next_token(offset: int, size: int, total: int, *filters: object) -> str:
    """The token for the page after this one, or "" on the last page."""
    return encode(offset + size, *filters) if offset + size < total else ""
