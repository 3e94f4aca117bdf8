"""`newsflow reingest` reads the recorded object version from S3 (moto's server on loopback over HTTP, not a
mocked client) and from local files, and nothing else: an object overwritten since is no copy of it."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from pydantic import SecretStr

from services.contracts import SourceRef
from services.ingest.settings import IngestSettings
from services.reingest import bucket_reader, recorded_bytes

pytestmark = pytest.mark.integration

ORIGINAL = b"Harbour cranes return to work\n\nDock workers went back on Monday.\n"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def recorded(uri: str, version: str, data: bytes) -> SourceRef:
    return SourceRef(uri=uri, version=version, format="text", size=len(data), sha256=hashlib.sha256(data).hexdigest())


def test_the_recorded_s3_version_is_read_and_an_overwritten_one_is_gone(moto_endpoint: str, tmp_path: Path) -> None:
    client: Any = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket="news")
    client.put_object(Bucket="news", Key="drop/a.txt", Body=ORIGINAL)
    etag = str(client.head_object(Bucket="news", Key="drop/a.txt")["ETag"]).strip('"')
    settings = IngestSettings(
        s3_endpoint_url=moto_endpoint, aws_access_key_id="test", aws_secret_access_key=SecretStr("test")
    )
    read = bucket_reader(settings)
    source = recorded("s3://news/drop/a.txt", etag, ORIGINAL)
    assert recorded_bytes(source, tmp_path, read) == ORIGINAL

    client.put_object(Bucket="news", Key="drop/a.txt", Body=ORIGINAL + b"Edited since.\n")
    assert read(source) is None  # IfMatch on the recorded ETag: that version is gone
    assert recorded_bytes(source, tmp_path, read) is None
    (tmp_path / source.sha256).write_bytes(ORIGINAL)  # ingest's quarantine kept it
    assert recorded_bytes(source, tmp_path, read) == ORIGINAL


def test_a_local_file_is_read_only_while_it_is_the_recorded_version(tmp_path: Path) -> None:
    path = tmp_path / "inbox" / "a.txt"
    path.parent.mkdir()
    path.write_bytes(ORIGINAL)
    source = recorded(str(path), "any", ORIGINAL)
    read = bucket_reader(IngestSettings())
    assert recorded_bytes(source, tmp_path / "quarantine", read) == ORIGINAL
    path.write_bytes(b"rewritten")
    assert recorded_bytes(source, tmp_path / "quarantine", read) is None
    path.unlink()
    assert read(source) is None
