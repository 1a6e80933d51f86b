"""A throwaway PostgreSQL cluster for tests: ``initdb`` + ``pg_ctl`` on a temporary directory.

Shipped so that integrators can run their own tests of the SQL adapter against a real
server, the way outlook_sync's suite does::

    from outlook_sync.testing.postgres import PostgresCluster

    with PostgresCluster() as cluster:          # finds the binaries, picks a free port
        connection = psycopg.connect(cluster.dsn)

The cluster listens on ``127.0.0.1`` only (no Unix socket), on a free port, with
password authentication (a random password) and durability switched off (``fsync``,
``synchronous_commit``, ``full_page_writes``) because it is thrown away. Stopping it
deletes its directory; an ``atexit`` hook stops a cluster that was not stopped.

PostgreSQL refuses to run as root. When the current process is root, the server
binaries run as the ``postgres`` OS user (or ``os_user=``) through ``subprocess``'s
``user=``/``group=`` switch, and the data directory is handed to that user.

The DSN holds the password: ``repr(cluster)`` and every error message leave it out.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from outlook_sync.adapters.sql.dialect import validate_identifier
from outlook_sync.errors import ConfigurationError, OutlookSyncError

__all__ = ["PostgresCluster", "PostgresClusterError", "find_bin_dir"]

#: Environment variable naming the directory of ``initdb``/``pg_ctl``.
BIN_DIR_ENV = "OUTLOOK_SYNC_PG_BIN"


class PostgresClusterError(OutlookSyncError):
    """The throwaway cluster could not be created, started or stopped."""


def find_bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: ``$OUTLOOK_SYNC_PG_BIN``, ``PATH``, or the newest
    Debian-style ``/usr/lib/postgresql/<version>/bin``; ``None`` if nowhere."""
    candidates: list[Path] = []
    if os.environ.get(BIN_DIR_ENV):
        candidates.append(Path(os.environ[BIN_DIR_ENV]))
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)

    def version(path: str) -> int:
        name = Path(path).parent.name
        return int(name) if name.isdigit() else 0

    candidates.extend(
        Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    )
    for candidate in candidates:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresCluster:
    """One throwaway PostgreSQL server. Start with :meth:`start` or ``with``.

    Args:
        bin_dir: directory of ``initdb``/``pg_ctl``; found by :func:`find_bin_dir` if omitted.
        database: the database created for the tests.
        superuser: the cluster's superuser name (the DSN's user).
        os_user: the OS user that runs the server when this process is root.

    Raises:
        ConfigurationError: no binaries, or root with no unprivileged OS user to run as.
    """

    def __init__(
        self,
        *,
        bin_dir: str | os.PathLike[str] | None = None,
        database: str = "outlook_sync_test",
        superuser: str = "outlook_sync",
        os_user: str = "postgres",
    ) -> None:
        found = Path(bin_dir) if bin_dir is not None else find_bin_dir()
        if found is None:
            raise ConfigurationError(
                f"no PostgreSQL server binaries (initdb, pg_ctl); set {BIN_DIR_ENV}", key="bin_dir"
            )
        self._bin = found
        self._database = validate_identifier(database, key="database")
        self._superuser = superuser
        self._password = secrets.token_urlsafe(18)
        self._run_as: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self._run_as = pwd.getpwnam(os_user)
            except KeyError:
                raise ConfigurationError(
                    f"running as root and there is no OS user {os_user!r} to run PostgreSQL",
                    key="os_user",
                ) from None
        self._base: Path | None = None
        self._port: int | None = None

    def __repr__(self) -> str:
        state = f"port={self._port}" if self._port else "stopped"
        return f"PostgresCluster({state}, database={self._database!r})"

    @property
    def port(self) -> int:
        """The loopback TCP port (only while running)."""
        if self._port is None:
            raise PostgresClusterError("the cluster is not running")
        return self._port

    @property
    def dsn(self) -> str:
        """A libpq connection string for the test database. Holds the password: don't log it."""
        return self.dsn_for(self._database)

    def dsn_for(self, database: str) -> str:
        """A libpq connection string for another database of the cluster."""
        return (
            f"host=127.0.0.1 port={self.port} dbname={database} "
            f"user={self._superuser} password={self._password}"
        )

    def _run(self, *args: str) -> None:
        uid = gid = None
        if self._run_as is not None:
            uid, gid = self._run_as.pw_uid, self._run_as.pw_gid
        result = subprocess.run(  # noqa: S603 - fixed binaries, no shell
            [str(self._bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "LC_ALL": "C", "PGPASSWORD": ""},
            cwd="/",
            user=uid,
            group=gid,
            extra_groups=None if uid is None else [],
        )
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().replace(self._password, "***")
            raise PostgresClusterError(f"{args[0]} failed: {detail[-2000:]}")

    def _hand_over(self, path: Path) -> None:
        if self._run_as is not None:
            os.chown(path, self._run_as.pw_uid, self._run_as.pw_gid)

    def start(self) -> PostgresCluster:
        """Create the cluster and start the server; return ``self``.

        Raises:
            PostgresClusterError: initdb or pg_ctl failed (their message, password removed).
        """
        if self._base is not None:
            return self
        base = Path(tempfile.mkdtemp(prefix="outlook_sync_pg_"))
        self._base = base
        atexit.register(self.stop)
        try:
            self._hand_over(base)
            pwfile = base / "pwfile"
            pwfile.write_text(self._password + "\n")
            self._hand_over(pwfile)
            self._run(
                "initdb",
                "-D",
                str(base / "data"),
                "-U",
                self._superuser,
                "-A",
                "scram-sha-256",
                f"--pwfile={pwfile}",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
            pwfile.unlink()
            self._start_server(base)
            self._create_database()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_server(self, base: Path) -> None:
        last: PostgresClusterError | None = None
        for _attempt in range(5):  # a free port can be taken between probe and bind
            port = _free_port()
            options = (
                f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                " -c max_connections=50 -c shared_buffers=64MB"
            )
            try:
                self._run(
                    "pg_ctl",
                    "-D",
                    str(base / "data"),
                    "-l",
                    str(base / "server.log"),
                    "-o",
                    options,
                    "-w",
                    "-t",
                    "60",
                    "start",
                )
            except PostgresClusterError as exc:
                last = exc
                continue
            self._port = port
            return
        raise last or PostgresClusterError("pg_ctl start failed")

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn_for("postgres"), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self._database}"')

    def stop(self) -> None:
        """Stop the server and delete its directory. Idempotent."""
        base, self._base = self._base, None
        if base is None:
            return
        if self._port is not None:
            self._port = None
            with contextlib.suppress(PostgresClusterError):
                self._run("pg_ctl", "-D", str(base / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)
        atexit.unregister(self.stop)

    def __enter__(self) -> PostgresCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
