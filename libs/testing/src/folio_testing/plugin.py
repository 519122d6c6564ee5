"""pytest fixtures that start real servers from Debian's packages on free loopback ports.

PostgreSQL, Redis and OpenLDAP's slapd.

Registered for the whole repository by the root conftest.py. A missing server binary
fails the test with the command that installs it (`make system-deps`), never a skip.
"""

import itertools
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from folio_testing.issuer import TestIssuer, serve_issuer
from folio_testing.otlp import OtlpReceiver

POSTGRES_ROOT = Path("/usr/lib/postgresql")
PG_USER = "postgres"


def _newest_postgres_bin() -> Path | None:
    """bin/ of the newest PostgreSQL installed by Debian's packages, or None."""
    candidates = []
    if POSTGRES_ROOT.is_dir():
        for version_dir in POSTGRES_ROOT.iterdir():
            bin_dir = version_dir / "bin"
            if (bin_dir / "initdb").exists() and (bin_dir / "pg_ctl").exists():
                major = version_dir.name.split(".")[0]
                if major.isdigit():
                    candidates.append((int(major), bin_dir))
    return max(candidates)[1] if candidates else None


def free_port() -> int:
    """A loopback port nothing listens on right now (for a server the test starts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster on a loopback port; trust auth for the `postgres` role."""

    port: int
    _names: Iterator[int]

    def admin_conninfo(self, dbname: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user={PG_USER} dbname={dbname}"

    def create_database(self, *, template: str | None = None) -> str:
        """A new database, empty or a copy of `template`; returns its SQLAlchemy URL."""
        name = f"folio_{next(self._names)}_{uuid.uuid4().hex[:8]}"
        copy = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(self.admin_conninfo(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)

    def url(self, dbname: str) -> str:
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{dbname}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Start PostgreSQL (initdb + pg_ctl) in a temp directory for the session; stop and remove it after."""
    bin_dir = _newest_postgres_bin()
    if bin_dir is None:
        pytest.fail(
            f"PostgreSQL server binaries (initdb, pg_ctl) not found under {POSTGRES_ROOT}/<version>/bin: "
            "run `make system-deps` to install Debian's postgresql package"
        )
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", PG_USER, "--"] if as_root else []
    workdir = Path(tempfile.mkdtemp(prefix="folio-pg-"))
    data_dir, socket_dir, log_file = workdir / "data", workdir / "sock", workdir / "postgres.log"
    socket_dir.mkdir()
    if as_root:
        # PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
        for path in (workdir, socket_dir):
            shutil.chown(path, user=PG_USER, group=PG_USER)

    def run(*args: str) -> None:
        result = subprocess.run(
            [*prefix, *args], cwd=workdir, capture_output=True, text=True, timeout=60, check=False
        )
        if result.returncode != 0:
            log = log_file.read_text(errors="replace") if log_file.exists() else ""
            pytest.fail(f"{args[0]} failed ({result.returncode}):\n{result.stdout}{result.stderr}{log}")

    run(
        str(bin_dir / "initdb"),
        "-D",
        str(data_dir),
        "-U",
        PG_USER,
        "--auth=trust",
        "--encoding=UTF8",
        "--no-locale",
        "--no-sync",
    )
    port = free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {socket_dir} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    pg_ctl = str(bin_dir / "pg_ctl")
    run(pg_ctl, "-D", str(data_dir), "-l", str(log_file), "-o", options, "-w", "-t", "30", "start")
    try:
        yield PostgresServer(port=port, _names=itertools.count())
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data_dir), "-m", "immediate", "-w", "stop"],
            cwd=workdir,
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class RedisServer:
    """A throwaway redis-server on a loopback port, no persistence."""

    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """Start redis-server for the session on a free port; stop it after."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server not found: run `make system-deps` to install Debian's redis-server package")
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="folio-redis-"))
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"redis-server did not start on port {port}")
            time.sleep(0.05)
    try:
        yield RedisServer(port=port)
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def issuer() -> Iterator[TestIssuer]:
    """A real OIDC issuer over HTTP on loopback (keys, JWKS, client credentials) for the session.

    Service accounts folio-orders, folio-storefront and folio-assistant are registered with
    throwaway secrets made here.
    """
    test_issuer = TestIssuer(
        clients={name: uuid.uuid4().hex for name in ("folio-orders", "folio-storefront", "folio-assistant")}
    )
    yield from serve_issuer(test_issuer)


@pytest.fixture(scope="session")
def otlp_receiver() -> Iterator[OtlpReceiver]:
    """A real OTLP/gRPC endpoint on loopback collecting the spans and metrics services export."""
    receiver = OtlpReceiver()
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


SLAPD = Path("/usr/sbin/slapd")
LDAP_SCHEMA_DIR = Path("/etc/ldap/schema")


@dataclass
class SlapdServer:
    """A throwaway OpenLDAP slapd on a loopback port with an empty database for `suffix`."""

    port: int
    suffix: str
    admin_dn: str
    admin_password: str
    workdir: Path

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"


def _slapd_config(*, workdir: Path, suffix: str, admin_dn: str, admin_password: str) -> str:
    # slapd.conf rather than cn=config: one small file, nothing to bootstrap before the server starts.
    schemas = "\n".join(
        f"include {LDAP_SCHEMA_DIR / name}.schema" for name in ("core", "cosine", "inetorgperson")
    )
    return f"""{schemas}
pidfile {workdir / "slapd.pid"}
argsfile {workdir / "slapd.args"}
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 16777216
suffix "{suffix}"
rootdn "{admin_dn}"
rootpw {admin_password}
directory {workdir / "db"}
index objectClass eq
# As a deployed directory would: people bind with their own password, readers must bind first.
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by * none
"""


@pytest.fixture
def slapd_server() -> Iterator[SlapdServer]:
    """Start slapd (from Debian's package) on a free loopback port with an empty `dc=folio,dc=example`."""
    if not SLAPD.exists() or shutil.which("ldapadd") is None:
        pytest.fail(
            "slapd or ldap-utils not found: run `make system-deps` to install Debian's slapd and ldap-utils"
        )
    suffix = "dc=folio,dc=example"
    admin_dn, admin_password = f"cn=admin,{suffix}", secrets.token_urlsafe(18)
    workdir = Path(tempfile.mkdtemp(prefix="folio-slapd-"))
    (workdir / "db").mkdir()
    config = workdir / "slapd.conf"
    config.write_text(
        _slapd_config(workdir=workdir, suffix=suffix, admin_dn=admin_dn, admin_password=admin_password)
    )
    config.chmod(0o600)
    port = free_port()
    log = (workdir / "slapd.log").open("wb")
    # -d 0 keeps slapd in the foreground (it never forks away from us) and logs nothing but errors.
    process = subprocess.Popen(
        [str(SLAPD), "-f", str(config), "-h", f"ldap://127.0.0.1:{port}/", "-d", "0"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                log.close()
                output = (workdir / "slapd.log").read_text(errors="replace")
                shutil.rmtree(workdir, ignore_errors=True)
                pytest.fail(f"slapd did not start on port {port}:\n{output}")
            time.sleep(0.05)
    try:
        yield SlapdServer(
            port=port, suffix=suffix, admin_dn=admin_dn, admin_password=admin_password, workdir=workdir
        )
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)
