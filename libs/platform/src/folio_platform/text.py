"""Text from outside: no control characters in names, ids, emails, addresses or queries.

A control character (Unicode category Cc: C0, DEL, C1) has no business in what a person types on
one line, and downstream it splits log lines, forges CSV rows and terminal output, and smuggles
through ids that look equal. One rule, checked at the edge (the storefront's parameters, forms
and JSON) and again by every gRPC server before a handler runs: a field holding one is refused
with INVALID_ARGUMENT / 400 naming the field. Multi-line fields (a book's description) may hold
tab, newline and carriage return, nothing else.
"""

import re
from collections.abc import Collection, Mapping

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from folio_platform.errors import InvalidArgument

_ONE_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def control_character(value: str, *, multiline: bool = False) -> str | None:
    """Where the first control character in `value` is ("U+0000 at position 3"), or None."""
    found = (_MULTILINE if multiline else _ONE_LINE).search(value)
    if found is None:
        return None
    return f"U+{ord(found.group()):04X} at position {found.start()}"


def check_text(field: str, value: str, *, multiline: bool = False) -> str:
    """`value`, or `InvalidArgument` naming `field` when it holds a control character."""
    where = control_character(value, multiline=multiline)
    if where is not None:
        allowed = " other than tab and line breaks" if multiline else ""
        raise InvalidArgument(field, f"must not contain control characters{allowed} (found {where})")
    return value


def check_json(value: object, *, field: str = "", multiline: Collection[str] = ()) -> None:
    """Check every string (and object key) in a decoded JSON value; fields are dotted paths
    (`address.city`, `items[2].book_id`); `multiline` names the last part of fields that may
    hold line breaks."""
    if isinstance(value, str):
        check_text(field or "body", value, multiline=field.rpartition(".")[2] in multiline)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            name = str(key)
            check_text(field or "body", name)
            check_json(item, field=f"{field}.{name}" if field else name, multiline=multiline)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_json(item, field=f"{field}[{index}]", multiline=multiline)


def check_message(message: Message, *, multiline: Collection[str] = (), prefix: str = "") -> None:
    """Check every string set in a protobuf message, nested messages, lists and maps included.

    Fields are named by their path in the request (`address.city`, `lines[1].book_id`);
    `multiline` holds full field names ("folio.catalog.v1.CreateBookRequest.description").
    """
    for descriptor, value in message.ListFields():
        name = prefix + descriptor.name
        entry = descriptor.message_type
        if entry is not None and entry.GetOptions().map_entry:
            value_type = entry.fields_by_name["value"]
            for key, item in value.items():
                if isinstance(key, str):
                    check_text(name, key)
                _check_value(value_type, item, f"{name}[{key}]", multiline)
        elif descriptor.is_repeated:
            for index, item in enumerate(value):
                _check_value(descriptor, item, f"{name}[{index}]", multiline)
        else:
            _check_value(descriptor, value, name, multiline)


def _check_value(descriptor: FieldDescriptor, value: object, name: str, multiline: Collection[str]) -> None:
    if descriptor.type == FieldDescriptor.TYPE_STRING:
        check_text(name, str(value), multiline=descriptor.full_name in multiline)
    elif descriptor.type == FieldDescriptor.TYPE_MESSAGE and isinstance(value, Message):
        check_message(value, multiline=multiline, prefix=f"{name}.")
