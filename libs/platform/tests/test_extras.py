"""A service without the platform's `sql`, `redis` or `nacos` extras still imports and runs the rest:
those parts are imported only where they are used."""

import subprocess
import sys
import textwrap

# Run in a fresh interpreter where the extras' packages cannot be imported, as in an image without them.
PROBE = textwrap.dedent(
    """
    import sys

    for name in ("sqlalchemy", "alembic", "psycopg", "redis", "v2"):
        sys.modules[name] = None  # `import name` now fails as if it were not installed

    import folio_platform.auth, folio_platform.center, folio_platform.grpc_client, folio_platform.grpc_server
    import folio_platform.registry, folio_platform.service
    from folio_platform import telemetry

    telemetry._instrument_libraries()
    try:
        folio_platform.center._nacos_options(
            folio_platform.center.CenterSettings(nacos_server_addresses="nacos:8848")
        )
    except SystemExit as stop:
        print(stop)
    """
)


def test_the_platform_runs_without_its_extras() -> None:
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert "the service needs folio-platform[nacos]" in result.stdout
