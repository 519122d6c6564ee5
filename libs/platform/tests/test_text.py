"""One rule for text from outside: control characters are refused, naming the field."""

import grpc
import pytest
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2

from folio_platform import errors
from folio_platform.auth import PUBLIC
from folio_platform.grpc_server import GrpcServer
from folio_platform.telemetry import Telemetry
from folio_platform.text import check_json, check_message, check_text, control_character
from folio_testing.issuer import TestIssuer

BAD_REQUEST = error_details_pb2.BadRequest
VIOLATION = BAD_REQUEST.FieldViolation
DESCRIPTION = "google.rpc.BadRequest.FieldViolation.description"


@pytest.mark.parametrize("char", ["\x00", "\x07", "\n", "\r", "\t", "\x1b", "\x7f", "\x85", "\x9f"])
def test_every_control_character_is_refused_on_one_line(char: str) -> None:
    with pytest.raises(errors.InvalidArgument) as refused:
        check_text("email", f"a{char}b@example.com")

    assert refused.value.field == "email"
    assert f"U+{ord(char):04X} at position 1" in refused.value.message


@pytest.mark.parametrize("text", ["Zoë Brontë", "東京都", "O'Brien-Smith", "a b\u00a0c", "🙂", ""])
def test_ordinary_text_in_any_script_passes(text: str) -> None:
    assert check_text("name", text) == text


def test_multiline_text_keeps_line_breaks_and_tabs_only() -> None:
    assert control_character("one\r\ntwo\tthree", multiline=True) is None
    assert control_character("one\x00two", multiline=True) == "U+0000 at position 3"
    assert control_character("bell\x07", multiline=True) == "U+0007 at position 4"


def test_a_message_names_the_nested_and_repeated_field_at_fault() -> None:
    clean = BAD_REQUEST(field_violations=[VIOLATION(field="a", description="fine")])
    check_message(clean)
    dirty = BAD_REQUEST(field_violations=[clean.field_violations[0], VIOLATION(field="b\x00")])

    with pytest.raises(errors.InvalidArgument) as refused:
        check_message(dirty)

    assert refused.value.field == "field_violations[1].field"


def test_a_multiline_field_is_named_by_its_full_proto_name() -> None:
    request = BAD_REQUEST(field_violations=[VIOLATION(field="a", description="line one\nline two")])
    with pytest.raises(errors.InvalidArgument):
        check_message(request)

    check_message(request, multiline={DESCRIPTION})
    request.field_violations[0].field = "a\nb"
    with pytest.raises(errors.InvalidArgument) as refused:
        check_message(request, multiline={DESCRIPTION})
    assert refused.value.field == "field_violations[0].field"


def test_map_keys_and_values_are_checked() -> None:
    struct = struct_pb2.Struct()
    struct.update({"ok": {"inner": ["x", "y\x1b[31m"]}})
    with pytest.raises(errors.InvalidArgument) as refused:
        check_message(struct)
    assert refused.value.field == "fields[ok].struct_value.fields[inner].list_value.values[1].string_value"

    keyed = struct_pb2.Struct()
    keyed.update({"bad\x00key": 1})
    with pytest.raises(errors.InvalidArgument) as refused:
        check_message(keyed)
    assert refused.value.field == "fields"


def test_json_values_are_named_by_their_dotted_path() -> None:
    check_json({"address": {"city": "Paris"}, "items": [{"book_id": "moby-dick"}]})
    with pytest.raises(errors.InvalidArgument) as refused:
        check_json({"address": {"city": "Par\x00is"}})
    assert refused.value.field == "address.city"
    with pytest.raises(errors.InvalidArgument) as refused:
        check_json({"items": [{"book_id": "ok"}, {"book_id": "moby\ndick"}]})
    assert refused.value.field == "items[1].book_id"
    check_json({"description": "two\nlines"}, multiline={"description"})


async def test_a_grpc_server_refuses_control_characters_before_the_handler_runs(issuer: TestIssuer) -> None:
    service, calls = "folio.test.v1.Strict", []

    async def handler(request: BAD_REQUEST, _context: object) -> BAD_REQUEST:
        calls.append(request)
        return request

    def register(server: grpc.aio.Server) -> None:
        rpc = grpc.unary_unary_rpc_method_handler(
            handler,
            request_deserializer=BAD_REQUEST.FromString,
            response_serializer=BAD_REQUEST.SerializeToString,
        )
        server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(service, {"Echo": rpc})])

    server = GrpcServer(
        register=register,
        service_names=[service],
        address="127.0.0.1:0",
        telemetry=Telemetry(enabled=False),
        auth=issuer.server_auth({f"/{service}/Echo": PUBLIC}),
        multiline={DESCRIPTION},
    )
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            echo = channel.unary_unary(
                f"/{service}/Echo",
                request_serializer=BAD_REQUEST.SerializeToString,
                response_deserializer=BAD_REQUEST.FromString,
            )
            fine = BAD_REQUEST(field_violations=[VIOLATION(field="title", description="two\nlines")])
            assert await echo(fine, timeout=5) == fine
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await echo(BAD_REQUEST(field_violations=[VIOLATION(field="ti\x00tle")]), timeout=5)
    finally:
        await server.server.stop(None)

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert errors.field_violations(refused.value) == [
        ("field_violations[0].field", "must not contain control characters (found U+0000 at position 2)")
    ]
    assert calls == [fine]
