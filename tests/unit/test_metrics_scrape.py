"""dev's progress display reads each service's /metrics: an answer that breaks off must read as no answer.

Issue 14: a service SIGKILLed while answering left `newsflow dev` with an uncaught ``IncompleteRead``,
and dev took the whole local stack down with it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from services.localstack import scrape

METRICS = b'# TYPE newsflow_up gauge\nnewsflow_up{service="store"} 1.0\n'


def _serve_once(reply: bytes) -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(reply)  # then the connection closes, as when the service is killed

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield port
    thread.join(5)
    server.close()


@pytest.fixture
def broken_off() -> Iterator[int]:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13506\r\n\r\n"
    yield from _serve_once(head + METRICS[:20])


@pytest.fixture
def whole() -> Iterator[int]:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(METRICS)
    yield from _serve_once(head + METRICS)


def test_an_answer_that_breaks_off_is_no_answer(broken_off: int) -> None:
    assert scrape(broken_off) == {}


def test_a_whole_answer_is_read(whole: int) -> None:
    assert scrape(whole) == {("newsflow_up", (("service", "store"),)): 1.0}


def test_a_closed_port_is_no_answer() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert scrape(port) == {}
