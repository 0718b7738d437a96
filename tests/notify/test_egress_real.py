"""The delivery HTTP client against real loopback servers that answer in every shape HTTP/1.1 allows
(and some it does not): keep-alive reuse, a connection the receiver closed or spoke on while idle, capped
and chunked answers, interim 1xx answers, `connection: close`, garbage, silence, refusal and TLS."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from services.notify.domain.ssrf import EgressPolicy
from services.notify.egress import (
    REFUSED_PREFIX,
    USER_AGENT,
    ConnectFailed,
    EgressClient,
    EgressError,
    EgressRefused,
    parse_target,
)

LOOPBACK = EgressPolicy(allow_loopback=True)
HEADERS = {"webhook-id": "msg_1", "content-type": "application/json"}

Answer = Callable[[int], bytes]
"""The request's number (from 1, over all connections) -> the raw bytes to answer with."""


def ok(body: bytes = b"ok", extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\ncontent-length: {len(body)}\r\n{extra}\r\n".encode() + body


class Server:
    """Loopback TCP: reads each request head and body, notes them, answers with `answer(n)`; closes
    after answering when `close_after` is set. Counts the connections it accepted."""

    def __init__(self, answer: Answer, close_after: bool = False) -> None:
        self.answer = answer
        self.close_after = close_after
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook?x=1"

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self.writers:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                self.requests.append((head, await reader.readexactly(length)))
                writer.write(self.answer(len(self.requests)))
                await writer.drain()
                if self.close_after:
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


async def post(client: EgressClient, url: str, cap: int = 4096, endpoint: str = "ep_1") -> tuple[int, bytes]:
    async with asyncio.timeout(5):
        answer = await client.post(endpoint, url, b'{"a":1}', HEADERS, cap)
    return answer.status_code, answer.body


async def with_client(run: Callable[[EgressClient], Awaitable[None]]) -> None:
    client = EgressClient(LOOPBACK, connections_per_endpoint=4)
    try:
        await run(client)
    finally:
        await client.aclose()


async def test_requests_reuse_one_kept_alive_connection_and_carry_their_headers() -> None:
    async with Server(lambda n: ok(f"answer {n}".encode())) as server:

        async def run(client: EgressClient) -> None:
            assert await post(client, server.url) == (200, b"answer 1")
            assert await post(client, server.url) == (200, b"answer 2")

        await with_client(run)
    assert server.connections == 1
    head, body = server.requests[0]
    request_line, *header_lines = head.decode().split("\r\n")
    assert request_line == "POST /hook?x=1 HTTP/1.1"
    lines = [line.lower() for line in header_lines]  # header names are case-insensitive
    assert f"host: 127.0.0.1:{server.port}" in lines
    assert f"user-agent: {USER_AGENT.lower()}" in lines
    assert "webhook-id: msg_1" in lines
    assert "accept-encoding: identity" in lines  # the answer's bytes are read as they come
    assert "content-length: 7" in lines
    assert body == b'{"a":1}'


async def test_a_connection_the_receiver_closed_while_idle_is_not_used_again() -> None:
    async with Server(lambda n: ok(), close_after=True) as server:

        async def run(client: EgressClient) -> None:
            assert await post(client, server.url) == (200, b"ok")
            await asyncio.sleep(0.05)  # the close reaches us while the connection is idle
            assert await post(client, server.url) == (200, b"ok")

        await with_client(run)
    assert server.connections == 2


async def test_stray_bytes_after_an_answer_fail_the_next_attempt_and_retire_the_connection() -> None:
    # An answer followed by stray bytes: the next exchange on that connection is refused as a network
    # error (the delivery is retried later; receivers dedupe by webhook-id), and the one after it
    # gets a fresh connection.
    async with Server(lambda n: ok() + b"HTTP/1.1 200 OK\r\n" if n == 1 else ok()) as server:

        async def run(client: EgressClient) -> None:
            assert await post(client, server.url) == (200, b"ok")
            await asyncio.sleep(0.05)
            with pytest.raises(EgressError):
                await post(client, server.url)
            assert await post(client, server.url) == (200, b"ok")

        await with_client(run)
    assert server.connections == 2


async def test_an_answer_is_read_up_to_the_cap_and_a_cut_connection_is_not_reused() -> None:
    big = b"x" * 10_000
    answers = {1: ok(big), 2: ok(b"y" * 16), 3: ok(b"z" * 10)}
    async with Server(lambda n: answers[n]) as server:

        async def run(client: EgressClient) -> None:
            assert await post(client, server.url, cap=4096) == (200, b"x" * 4096)
            assert await post(client, server.url, cap=16) == (200, b"y" * 16)  # exactly the cap
            assert await post(client, server.url, cap=0) == (200, b"")

        await with_client(run)
    # a connection whose answer was not read to its end is never used again
    assert server.connections == 3


async def test_chunked_and_interim_answers_and_connection_close() -> None:
    chunked = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    answers = {1: chunked, 2: ok(extra="connection: close\r\n"), 3: chunked}
    async with Server(lambda n: answers[n]) as server:

        async def run(client: EgressClient) -> None:
            assert await post(client, server.url) == (201, b"abcde")
            assert await post(client, server.url) == (200, b"ok")  # same connection, then closed
            assert await post(client, server.url) == (201, b"abcde")  # a new one

        await with_client(run)
    assert server.connections == 2


async def test_a_redirect_is_an_answer_not_followed() -> None:
    redirect = b"HTTP/1.1 307 Temporary Redirect\r\nlocation: /elsewhere\r\ncontent-length: 0\r\n\r\n"
    async with Server(lambda n: redirect) as server:

        async def run(client: EgressClient) -> None:
            assert await post(client, server.url) == (307, b"")

        await with_client(run)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [b"NOT HTTP AT ALL\r\n\r\n", b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\ntoo short"],
)
async def test_garbage_or_a_cut_answer_is_a_network_error(answer: bytes) -> None:
    async with Server(lambda n: answer, close_after=True) as server:

        async def run(client: EgressClient) -> None:
            with pytest.raises(EgressError) as caught:
                await post(client, server.url)
            assert not isinstance(caught.value, ConnectFailed)

        await with_client(run)


async def test_silence_is_left_to_the_callers_timeout_and_the_connection_dropped() -> None:
    async with Server(lambda n: b"" if n == 1 else ok()) as server:

        async def run(client: EgressClient) -> None:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await client.post("ep_1", server.url, b"{}", HEADERS, 4096)
            assert await post(client, server.url) == (200, b"ok")

        await with_client(run)
    assert server.connections == 2  # the silent connection was not kept for reuse


async def test_an_endpoint_hanging_on_every_connection_does_not_hold_another_on_the_same_host() -> None:
    # Two endpoints of one shop on one host: the first answers nothing on all its connections; the
    # second still gets its answers at once, on connections of its own.
    async with Server(lambda n: b"" if n <= 4 else ok()) as server:

        async def run(client: EgressClient) -> None:
            hanging = [
                asyncio.create_task(client.post("ep_sick", server.url, b"{}", HEADERS, 4096))
                for _ in range(4)
            ]
            await asyncio.sleep(0.1)
            assert len(server.requests) == 4
            async with asyncio.timeout(1):
                assert await post(client, server.url, endpoint="ep_well") == (200, b"ok")
            for task in hanging:
                task.cancel()
            await asyncio.gather(*hanging, return_exceptions=True)

        await with_client(run)
    assert server.connections == 5


async def test_the_policy_refuses_before_any_connection_and_says_why() -> None:
    async with Server(lambda n: ok()) as server:
        client = EgressClient(EgressPolicy())
        try:
            with pytest.raises(EgressRefused) as caught:
                await post(client, server.url)
        finally:
            await client.aclose()
    assert str(caught.value) == (
        REFUSED_PREFIX + "127.0.0.1 resolves to 127.0.0.1, a loopback address, not allowlisted"
    )
    assert server.connections == 0


async def test_nobody_listening_and_a_failed_tls_handshake_are_connect_errors() -> None:
    async def plain_text(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(plain_text, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = EgressClient(LOOPBACK)
    try:
        with pytest.raises(ConnectFailed):  # TLS to a server that speaks plain HTTP
            await post(client, f"https://127.0.0.1:{port}/hook")
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
    client = EgressClient(LOOPBACK)
    try:
        with pytest.raises(ConnectFailed) as caught:
            await post(client, f"http://127.0.0.1:{port}/hook")  # the server is gone
        assert not isinstance(caught.value, EgressRefused)
    finally:
        await client.aclose()


def test_targets() -> None:
    target = parse_target("https://Shop.Example/hooks/in?a=1#frag")
    assert target.origin == ("https", "shop.example", 443)
    v6 = parse_target("http://[::1]:8080")
    assert v6.origin == ("http", "::1", 8080)
    assert parse_target("http://bücher.example/").host == "xn--bcher-kva.example"
    for url, problem in (
        ("ftp://shop.example/", "unsupported URL scheme"),
        ("http://user:pw@shop.example/", "credentials"),
        ("http:///nohost", "no host"),
        ("http://shop.example:99999/", "unusable URL"),
    ):
        with pytest.raises(ConnectFailed, match=problem):
            parse_target(url)
