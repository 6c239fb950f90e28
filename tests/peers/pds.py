"""pytest plugin: a REAL Bluesky PDS (npm @atproto/pds) with its own in-memory PLC directory, on
loopback, started once per session by tests/peers/pds/launch.mjs (`make peers` installs it).

`pds.url` is what the app is given as the PDS, `http://localhost:<port>`: the same string the DID
documents carry as their `#atproto_pds` serviceEndpoint (127.0.0.1 answers too, but only the
hostname matches what a resolver finds). Handles are `<name>-<hex>.test`; no `.test` handle has
a web server, so `https://<handle>/.well-known/atproto-did` cannot work here. Resolve a handle
with com.atproto.identity.resolveHandle on the PDS (`pds.resolve_handle`) and a DID with
`GET {pds.plc_url}/{did}` (`pds.did_document`).

There is no AppView: app.bsky.* reads (getProfile) fail; read records with getRecord (`profile`).
The PDS is another platform, not part of our deployment, so it runs on both test profiles.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.peers.ports import free_port, start_server

HERE = Path(__file__).with_name("pds")
LAUNCHER = HERE / "launch.mjs"
PROFILE = "app.bsky.actor.profile"
TIMEOUT = 10


@dataclass(frozen=True)
class Account:
    handle: str
    did: str
    password: str  # the account's own password
    app_password: str  # what a person pastes into a third-party app such as ours


class LocalPDS:
    """XRPC calls a person's Bluesky client would make, for setting up and checking tests."""

    def __init__(self, url: str, plc_url: str) -> None:
        self.url = url
        self.plc_url = plc_url
        self._tokens: dict[str, str] = {}  # did -> access JWT from the account's own password

    def xrpc(self, nsid: str) -> str:
        return f"{self.url}/xrpc/{nsid}"

    def create_account(self, name: str | None = None) -> Account:
        """A fresh account (handle `<name>-<hex>.test`, name at most 11 characters) with one app
        password."""
        handle = f"{name or 'user'}-{secrets.token_hex(3)}.test"
        password = secrets.token_urlsafe(12)
        created = self._call(
            "post",
            "com.atproto.server.createAccount",
            json={"handle": handle, "email": f"{handle}@example.com", "password": password},
        )
        did = created["did"]
        self._tokens[did] = created["accessJwt"]
        app_password = self._call(
            "post",
            "com.atproto.server.createAppPassword",
            json={"name": "linkarooie"},
            headers=self._auth(did),
        )["password"]
        return Account(created["handle"], did, password, app_password)

    def upload_blob(self, account: Account, data: bytes, mime_type: str) -> dict[str, Any]:
        """The blob ref to put in a record: {"$type": "blob", "ref": {"$link": cid}, ...}."""
        headers = {**self._auth(account.did), "Content-Type": mime_type}
        return self._call("post", "com.atproto.repo.uploadBlob", data=data, headers=headers)["blob"]

    def set_profile(
        self, account: Account, display_name: str | None, description: str | None
    ) -> None:
        """Write app.bsky.actor.profile/self as the person would in their Bluesky client: name and
        bio change, whatever else the record holds (avatar, banner) stays."""
        record = {**(self.profile(account) or {}), "$type": PROFILE}
        for key, value in (("displayName", display_name), ("description", description)):
            if value is None:
                record.pop(key, None)
            else:
                record[key] = value
        self.put_profile(account, record)

    def put_profile(self, account: Account, record: dict[str, Any]) -> None:
        """Replace app.bsky.actor.profile/self with `record` (checked against the lexicon)."""
        body = {
            "repo": account.did,
            "collection": PROFILE,
            "rkey": "self",
            "record": {"$type": PROFILE, **record},
            "validate": True,
        }
        self._call("post", "com.atproto.repo.putRecord", json=body, headers=self._auth(account.did))

    def profile(self, account: Account) -> dict[str, Any] | None:
        """The profile record's value, or None when the account has none."""
        params = {"repo": account.did, "collection": PROFILE, "rkey": "self"}
        response = requests.get(
            self.xrpc("com.atproto.repo.getRecord"), params=params, timeout=TIMEOUT
        )
        if response.status_code == 400 and response.json().get("error") == "RecordNotFound":
            return None
        return _json(response, "com.atproto.repo.getRecord")["value"]

    def blob(self, account: Account, cid: str) -> bytes:
        response = requests.get(
            self.xrpc("com.atproto.sync.getBlob"),
            params={"did": account.did, "cid": cid},
            timeout=TIMEOUT,
        )
        _raise_for(response, "com.atproto.sync.getBlob")
        return response.content

    def resolve_handle(self, handle: str) -> str:
        return self._call("get", "com.atproto.identity.resolveHandle", params={"handle": handle})[
            "did"
        ]

    def did_document(self, did: str) -> dict[str, Any]:
        """The DID document from the PLC directory, as a resolver on the internet would get it."""
        response = requests.get(f"{self.plc_url}/{did}", timeout=TIMEOUT)
        _raise_for(response, "plc")
        return response.json()

    def _auth(self, did: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._tokens[did]}"}

    def _call(self, method: str, nsid: str, **kwargs: Any) -> dict[str, Any]:
        response = requests.request(method, self.xrpc(nsid), timeout=TIMEOUT, **kwargs)
        return _json(response, nsid)


def _raise_for(response: requests.Response, what: str) -> None:
    if not response.ok:
        raise requests.HTTPError(
            f"{what}: {response.status_code} {response.text[:500]}", response=response
        )


def _json(response: requests.Response, what: str) -> dict[str, Any]:
    _raise_for(response, what)
    return response.json()


@pytest.fixture(scope="session")
def pds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPDS]:
    """`node tests/peers/pds/launch.mjs <pdsPort> <plcPort> <dataDir>`, once per session."""
    node = shutil.which("node")
    if node is None or not (HERE / "node_modules" / "@atproto" / "pds").is_dir():
        pytest.fail("the test PDS is not installed: run `make peers` (scripts/install-pds.sh)")
    root = tmp_path_factory.mktemp("pds")
    log = root / "pds.log"
    plc_ports: dict[int, int] = {}
    # warn and above only: at info the PDS logs every request as JSON
    env = dict(os.environ, LOG_ENABLED="true", LOG_LEVEL="warn", PDS_EXIT_ON_STDIN_EOF="1")

    def start(port: int) -> subprocess.Popen:
        plc_ports[port] = free_port()
        with open(log, "ab") as out:
            return subprocess.Popen(
                [node, str(LAUNCHER), str(port), str(plc_ports[port]), str(root / f"run-{port}")],
                cwd=HERE,
                env=env,
                stdin=subprocess.PIPE,  # closed when this process dies: the launcher exits too
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def answers(port: int) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}/xrpc/_health", timeout=2).ok
        except requests.ConnectionError:
            return False

    proc, port = start_server(start, answers, timeout=30, describe=lambda: log.read_text()[-3000:])
    try:
        yield LocalPDS(f"http://localhost:{port}", f"http://localhost:{plc_ports[port]}")
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdin.close()
