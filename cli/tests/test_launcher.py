"""The launcher's pieces that need no real service: log formatting, wiring, failure handling."""

import io
import json
import sys
import textwrap
import time
from pathlib import Path

import pytest

from folio_cli.launcher import ServiceFailed, Stack, _pretty
from folio_cli.services import SERVICES, ServiceSpec, environment
from folio_testing.plugin import free_port


def test_pretty_turns_a_json_log_line_into_level_logger_message_and_extras() -> None:
    line = json.dumps(
        {
            "time": "2026-01-01 00:00:00,000",
            "level": "INFO",
            "logger": "folio_catalog.app",
            "message": "seed catalog loaded",
            "service": "catalog",
            "added_books": 3,
            "seed_books": 5,
            "trace_id": "0af7651916cd43dd8448eb211c80319c",
            "span_id": "b7ad6b7169203331",
            "taskName": None,
        }
    )

    assert _pretty(line) == (
        "INFO    folio_catalog.app: seed catalog loaded added_books=3 seed_books=5 trace=0af76519"
    )


def test_pretty_leaves_out_empty_extras_and_an_empty_trace() -> None:
    line = json.dumps(
        {"level": "WARNING", "logger": "x", "message": "slow", "trace_id": "", "path": "", "ms": 1200}
    )

    assert _pretty(line) == "WARNING x: slow ms=1200"


@pytest.mark.parametrize(
    "line",
    [
        "Traceback (most recent call last):",
        "",
        "{not json",
        "42",
        '["a list"]',
        '{"level": "INFO", "logger": "x"}',
    ],
)
def test_pretty_leaves_other_lines_as_they_are(line: str) -> None:
    assert _pretty(line) == line


def test_environment_wires_each_client_to_its_backends(tmp_path: Path) -> None:
    ports = {"catalog": 6001, "cart": 6003, "payment": 6004, "orders": 6005, "storefront": 6002}
    env = environment(ports, tmp_path)

    assert env["FOLIO_CATALOG_PORT"] == "6001"
    assert env["FOLIO_STOREFRONT_PORT"] == "6002"
    assert env["FOLIO_CATALOG_DATA_DIR"] == str(tmp_path)
    assert json.loads(env["FOLIO_STOREFRONT_SERVICE_ADDRESSES"]) == {
        "catalog": "127.0.0.1:6001",
        "cart": "127.0.0.1:6003",
        "orders": "127.0.0.1:6005",
    }
    assert json.loads(env["FOLIO_ORDERS_SERVICE_ADDRESSES"]) == {
        "catalog": "127.0.0.1:6001",
        "cart": "127.0.0.1:6003",
        "payment": "127.0.0.1:6004",
    }


def test_the_session_secret_is_made_once_per_data_dir_and_kept_private(tmp_path: Path) -> None:
    first = environment({"catalog": 6001, "storefront": 6002}, tmp_path)["FOLIO_STOREFRONT_SESSION_SECRET"]
    again = environment({"catalog": 6001, "storefront": 6002}, tmp_path)["FOLIO_STOREFRONT_SESSION_SECRET"]
    other = environment({"catalog": 6001, "storefront": 6002}, tmp_path / "other")[
        "FOLIO_STOREFRONT_SESSION_SECRET"
    ]

    assert first == again != other
    assert len(first) >= 32
    assert (tmp_path / "storefront-session-secret").stat().st_mode & 0o077 == 0


def test_urls_use_the_overridden_ports(tmp_path: Path) -> None:
    stack = Stack(data_dir=tmp_path, ports={"storefront": 6002}, output=io.StringIO())

    assert stack.url("storefront") == "http://127.0.0.1:6002/"
    catalog = next(s for s in SERVICES if s.name == "catalog")
    assert stack.url("catalog") == f"127.0.0.1:{catalog.default_port}"


def test_stopping_a_service_that_never_started_is_harmless(tmp_path: Path) -> None:
    stack = Stack(data_dir=tmp_path, output=io.StringIO())

    assert stack.stop("catalog") is None
    stack.down()


def _fake_stack(tmp_path: Path, name: str, body: str, **options: object) -> Stack:
    """A stack of one service module that is not a server (it exits or hangs)."""
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    return Stack(
        data_dir=tmp_path / "data",
        services=[ServiceSpec(name, name, free_port(), "http")],
        # The services' environment always wires these two, whichever services run.
        ports={"catalog": free_port(), "storefront": free_port()},
        extra_env={"PYTHONPATH": str(tmp_path)},
        **options,  # type: ignore[arg-type]
    )


class SlowTerminal(io.StringIO):
    """An output that takes its time, as a busy terminal or machine does."""

    def write(self, text: str) -> int:
        time.sleep(0.3)
        return super().write(text)


def test_a_service_that_crashes_fails_up_naming_it_and_its_last_words_are_shown(tmp_path: Path) -> None:
    output = SlowTerminal()
    stack = _fake_stack(
        tmp_path,
        "crashing",
        """
        import json, sys
        print("starting")
        print(json.dumps({"level": "ERROR", "logger": "crashing.app", "message": "no database", "url": "x"}))
        sys.exit(3)
        """,
        output=output,
    )

    with pytest.raises(ServiceFailed, match=r"crashing exited with code 3"):
        stack.up(timeout=20)

    # `folio up` prints the error and exits straight away: the log lines must already be out.
    assert output.getvalue().splitlines() == [
        "crashing | starting",
        "crashing | ERROR   crashing.app: no database url=x",
    ]


def test_raw_logs_are_forwarded_unchanged(tmp_path: Path) -> None:
    record = json.dumps({"level": "INFO", "logger": "a", "message": "hello"})
    output = io.StringIO()
    stack = _fake_stack(
        tmp_path, "raw", f"print({record!r}); raise SystemExit(1)", output=output, pretty=False
    )

    with pytest.raises(ServiceFailed):
        stack.up(timeout=20)

    assert output.getvalue() == f"raw | {record}\n"


def test_a_service_that_never_gets_healthy_times_out_and_is_stopped(tmp_path: Path) -> None:
    stack = _fake_stack(tmp_path, "hanging", "import time\ntime.sleep(120)\n", output=io.StringIO())

    started = time.monotonic()
    with pytest.raises(ServiceFailed, match=r"not healthy after 1 s: hanging"):
        stack.up(timeout=1)

    assert time.monotonic() - started < 10
    assert stack.processes["hanging"].poll() is not None


def test_services_run_on_this_interpreter(tmp_path: Path) -> None:
    output = io.StringIO()
    stack = _fake_stack(tmp_path, "which", "import sys\nprint(sys.executable)\n", output=output)

    with pytest.raises(ServiceFailed, match="which exited with code 0"):
        stack.up(timeout=20)

    assert output.getvalue() == f"which | {sys.executable}\n"


def test_each_service_gets_the_issuer_and_only_its_own_client_secret(tmp_path: Path) -> None:
    ports = {"dev-oidc": 6000, "catalog": 6001, "orders": 6005, "storefront": 6002}
    orders = environment(ports, tmp_path, "orders")
    storefront = environment(ports, tmp_path, "storefront")
    catalog = environment(ports, tmp_path, "catalog")

    assert orders["FOLIO_AUTH_ISSUER_URL"] == catalog["FOLIO_AUTH_ISSUER_URL"] == "http://127.0.0.1:6000"
    assert (orders["FOLIO_AUTH_CLIENT_ID"], storefront["FOLIO_AUTH_CLIENT_ID"]) == (
        "folio-orders",
        "folio-storefront",
    )
    assert orders["FOLIO_AUTH_CLIENT_SECRET"] != storefront["FOLIO_AUTH_CLIENT_SECRET"]
    assert "FOLIO_AUTH_CLIENT_SECRET" not in catalog
    clients = json.loads(Path(orders["FOLIO_DEV_OIDC_CLIENTS_FILE"]).read_text())
    assert clients["folio-storefront"]["redirect_uris"] == ["http://127.0.0.1:6002/signin/callback"]
    assert clients["folio-orders"]["secret"] == orders["FOLIO_AUTH_CLIENT_SECRET"]
    for made in ("dev-identity-secrets.json", "dev-oidc-users.json", "dev-oidc-clients.json"):
        assert (tmp_path / made).stat().st_mode & 0o077 == 0


def test_replicas_get_their_own_names_and_ports_and_find_each_other_through_the_registry(
    tmp_path: Path,
) -> None:
    stack = Stack(data_dir=tmp_path, replicas={"catalog": 3}, output=io.StringIO())

    assert list(stack.instance_of)[-2:] == ["catalog-2", "catalog-3"]
    assert stack.spec("catalog-3").name == "catalog"
    assert len({stack.ports["catalog"], stack.ports["catalog-2"], stack.ports["catalog-3"]}) == 3
    assert stack.config_dir == tmp_path / "config"
    assert stack.registry_dir == tmp_path / "registry"


def test_replicating_an_unknown_service_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot replicate 'catalogue'"):
        Stack(data_dir=tmp_path, replicas={"catalogue": 2})


READY_AFTER = """
import http.server, os, time
time.sleep({delay})
class Ready(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/readyz" else 404)
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT_{name}"])), Ready).serve_forever()
"""


def test_up_records_when_each_service_became_ready(tmp_path: Path) -> None:
    specs = [ServiceSpec(name, name, free_port(), "http") for name in ("quick", "slow")]
    for spec, delay in zip(specs, (0, 2), strict=True):
        (tmp_path / f"{spec.name}.py").write_text(READY_AFTER.format(delay=delay, name=spec.name))
    stack = Stack(
        data_dir=tmp_path / "data",
        services=specs,
        ports={"catalog": free_port(), "storefront": free_port()},
        extra_env={"PYTHONPATH": str(tmp_path)} | {f"PORT_{s.name}": str(s.default_port) for s in specs},
        output=io.StringIO(),
    )
    try:
        took = stack.up(timeout=30)
    finally:
        stack.down()

    assert set(stack.ready_after) == {"quick", "slow"}
    assert stack.ready_after["quick"] < stack.ready_after["slow"]
    assert 2 <= stack.ready_after["slow"] <= took
