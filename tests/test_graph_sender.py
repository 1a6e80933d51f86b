"""GraphClient's own connections (``adapters/graph/sender.py``), seen from the caller.

What the caller must be able to rely on whatever carries the bytes: a request that never
reached the server is "unreachable" (safe to repeat), one whose answer was lost is
"answer lost" (a write may have happened), an idle keep-alive connection the server
closed is replaced rather than failing a write, a proxy set in the environment is used,
and HTTPS verifies the server against the trusted certificates.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from outlook_sync.adapters.graph import GraphClient, StaticToken
from outlook_sync.adapters.graph.sender import DirectSender, dumps, loads
from outlook_sync.adapters.graph.transport import AnswerLostError, RetryPolicy
from outlook_sync.errors import BackendUnavailableError

_OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


@contextlib.contextmanager
def raw_server(handle: Callable[[socket.socket, int], None]) -> Iterator[tuple[str, list[int]]]:
    """A loopback TCP server; ``handle(connection, number)`` runs for each connection.
    Yields the base URL and the list of accepted connection numbers."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(len(accepted))
            threading.Thread(target=_guarded, args=(handle, conn, len(accepted) - 1),
                             daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1.0", accepted
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def _guarded(handle: Callable[[socket.socket, int], None], conn: socket.socket,
             number: int) -> None:
    with conn, contextlib.suppress(OSError):
        handle(conn, number)


def _read_request(conn: socket.socket) -> bytes:
    """Read one request (headers and a Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += conn.recv(65536)
    return head


def client_for(base_url: str, **kwargs: object) -> GraphClient:
    return GraphClient(base_url, StaticToken("t"), mailbox=f"sender-{base_url}",
                       retry=RetryPolicy(attempts=2), sleep=lambda _: None, **kwargs)  # type: ignore[arg-type]


def test_a_refused_connection_is_unreachable_not_a_lost_answer() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
    client = client_for(f"http://127.0.0.1:{port}/v1.0")
    with pytest.raises(BackendUnavailableError) as caught:
        client.request("POST", "me/events", body={"subject": "x"}, safe_to_retry=False)
    assert not isinstance(caught.value, AnswerLostError)
    assert "unreachable" in str(caught.value)
    assert client.retries == 1  # never reached the server: safe to try again


def test_a_write_whose_answer_never_comes_is_reported_lost() -> None:
    def swallow(conn: socket.socket, _number: int) -> None:
        _read_request(conn)  # then close without a word

    with raw_server(swallow) as (base_url, accepted):
        client = client_for(base_url)
        with pytest.raises(AnswerLostError, match=r"POST /v1\.0/me/events: the answer was lost"):
            client.request("POST", "me/events", body={"subject": "x"}, safe_to_retry=False)
    assert len(accepted) == 1  # not repeated: the event may exist
    assert client.retries == 0


def test_a_write_that_times_out_is_reported_lost_and_a_read_is_retried() -> None:
    release = threading.Event()

    def stall(conn: socket.socket, _number: int) -> None:
        _read_request(conn)
        release.wait(5)

    with raw_server(stall) as (base_url, accepted):
        client = client_for(base_url, timeout=0.3)
        with pytest.raises(AnswerLostError, match="ReadTimeout"):
            client.request("POST", "me/events", body={}, safe_to_retry=False)
        with pytest.raises(AnswerLostError, match="ReadTimeout"):
            client.request("GET", "me/events")
        release.set()
    assert len(accepted) == 3  # the write once, the read twice (attempts=2)


def test_an_idle_connection_the_server_closed_is_replaced_not_a_lost_write() -> None:
    def one_answer_then_close(conn: socket.socket, _number: int) -> None:
        _read_request(conn)
        conn.sendall(_OK)  # keep-alive by HTTP/1.1 rules, then closed while idle

    with raw_server(one_answer_then_close) as (base_url, accepted):
        client = client_for(base_url)
        assert client.request("POST", "me/events", body={}, safe_to_retry=False).status == 200
        threading.Event().wait(0.2)  # the server's close arrives while the connection idles
        assert client.request("POST", "me/events", body={}, safe_to_retry=False).status == 200
        client.close()
    assert len(accepted) == 2


def test_keep_alive_connections_are_reused_across_threads() -> None:
    seen: list[bytes] = []

    heads: list[bytes] = []

    def keep_answering(conn: socket.socket, _number: int) -> None:
        while head := _read_request(conn):
            heads.append(head)
            seen.append(head.split(b"\r\n")[0])
            conn.sendall(_OK)

    with raw_server(keep_answering) as (base_url, accepted):
        client = client_for(base_url)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                for _ in range(25):
                    assert client.request("GET", "me/events?$top=1").status == 200
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        client.close()
    assert errors == []
    assert len(seen) == 100
    assert seen[0] == b"GET /v1.0/me/events?$top=1 HTTP/1.1"
    assert b"\r\nUser-Agent: outlook_sync/" in heads[0]
    assert b"\r\nAccept: application/json" in heads[0]
    assert len(accepted) <= 4  # at most one connection per request in flight


class _Proxy(http.server.BaseHTTPRequestHandler):
    targets: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.targets.append(self.path)
        body = json.dumps({"via": "proxy"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_proxy_set_in_the_environment_carries_the_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        client = client_for("http://graph.invalid/v1.0")
        assert client.request("GET", "me/events").json_object() == {"via": "proxy"}
        client.close()
    finally:
        server.shutdown()
        server.server_close()
    assert _Proxy.targets == ["http://graph.invalid/v1.0/me/events"]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


@contextlib.contextmanager
def tls_server(cert: Path, key: Path) -> Iterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    def answer(conn: socket.socket, _number: int) -> None:
        with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True) as tls:
            while _read_request(tls):
                tls.sendall(_OK)

    with raw_server(answer) as (base_url, _accepted):
        yield base_url.replace("http://127.0.0.1", "https://localhost")


def test_https_verifies_the_server_against_the_trusted_certificates(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = certificate
    with tls_server(cert, key) as base_url:
        untrusted = client_for(base_url)
        with pytest.raises(BackendUnavailableError, match="unreachable") as caught:
            untrusted.request("POST", "me/events", body={}, safe_to_retry=False)
        assert not isinstance(caught.value, AnswerLostError)  # refused before sending
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        trusted = client_for(base_url)
        assert trusted.request("POST", "me/events", body={}, safe_to_retry=False).status == 200
        assert trusted.request("GET", "me/events").json_object() == {}
        trusted.close()


def test_json_text_that_orjson_refuses_still_goes_out() -> None:
    lone = {"subject": "half a pair \ud83d"}
    assert json.loads(dumps(lone)) == lone
    assert loads(dumps({"subject": "Möte på kontoret"})) == {"subject": "Möte på kontoret"}
    with pytest.raises(ValueError, match=r"."):
        loads(b"{not json")


def test_a_request_target_is_escaped_as_httpx_would() -> None:
    heads: list[bytes] = []

    def record(conn: socket.socket, _number: int) -> None:
        heads.append(_read_request(conn).split(b"\r\n")[0])
        conn.sendall(_OK)

    with raw_server(record) as (base_url, _accepted):
        sender = DirectSender(5.0)
        status, _headers, body = sender.send(
            "GET", base_url + "/me/events/AAk%2Fx=/a b?$filter=subject eq 'ä'", {}, None)
        sender.close()
    assert (status, body) == (200, b"{}")
    assert heads == [b"GET /v1.0/me/events/AAk%2Fx=/a%20b?$filter=subject%20eq%20'%C3%A4' "
                     b"HTTP/1.1"]


def test_a_header_the_protocol_cannot_carry_is_refused_before_anything_is_sent() -> None:
    received: list[bytes] = []

    def record(conn: socket.socket, _number: int) -> None:
        if head := _read_request(conn):
            received.append(head)
            conn.sendall(_OK)

    with raw_server(record) as (base_url, _accepted):
        client = GraphClient(base_url, StaticToken("half\r\nX-Injected: 1"),
                             retry=RetryPolicy(attempts=1), sleep=lambda _: None)
        with pytest.raises(BackendUnavailableError, match="LocalProtocolError") as caught:
            client.request("POST", "me/events", body={}, safe_to_retry=False)
        client.close()
    assert not isinstance(caught.value, AnswerLostError)
    assert received == []  # no request (and no injected header) went out
