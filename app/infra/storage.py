"""Object storage for uploaded images: a local directory in development, S3 in production.

Keys look like "originals/ab/<sha256>.jpg". The same key rules apply to every backend, so a key that
works locally also works on S3 (and can never escape the local root).

Over 300 lines on purpose: the Storage contract and its two backends are one unit to read and
change together (every method exists on both, with the same key rules).
"""

from __future__ import annotations

import abc
import hashlib
import json
import mimetypes
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.services.exceptions import NotFound

IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
MUTABLE_CACHE_CONTROL = "no-cache"  # clients may cache but must revalidate (ETag) every time

# Objects under these prefixes (uploaded originals, with their EXIF and GPS) never get a URL:
# only the worker reads them. Everything a browser may fetch is made by the pipeline, which
# strips metadata.
# Data exports (app/services/accounts/export/) hold a whole account: only the app streams them,
# to their signed-in owner.
PRIVATE_PREFIXES = ("originals/", "exports/")
CHUNK = 1024 * 1024  # what streaming reads and writes move at a time

_KEY_CHARS = re.compile(r"[A-Za-z0-9._/-]{1,1024}")
_EXT = re.compile(r"[a-z0-9]{1,10}")


class StorageKeyNotFound(NotFound):
    def __init__(self, key: str):
        super().__init__(f"no stored object {key!r}")
        self.key = key


class InvalidStorageKey(ValueError):
    """A key with characters or segments we refuse (a bug in the caller, or a hostile URL)."""


class StorageUnavailable(Exception):
    """The backend cannot be reached or refuses our credentials (raised by `ping`)."""


def validate_key(key: str) -> str:
    """Return `key` unchanged, or raise InvalidStorageKey.

    Segments may not be empty or start with "." : that rules out "..", absolute paths, "a//b"
    and hidden files (LocalStorage keeps its temp and metadata files under dot-names).
    """
    if not _KEY_CHARS.fullmatch(key) or any(
        not part or part.startswith(".") for part in key.split("/")
    ):
        raise InvalidStorageKey(key)
    return key


def is_private(key: str) -> bool:
    return key.startswith(PRIVATE_PREFIXES)


def public_key(key: str) -> str:
    """`key` validated for a URL; InvalidStorageKey for a private object (an original)."""
    if is_private(validate_key(key)):
        raise InvalidStorageKey(f"{key!r} is private: originals are never served by URL")
    return key


@dataclass(frozen=True)
class StoredObject:
    key: str
    modified: datetime  # aware, UTC


def content_hashed_key(prefix: str, data: bytes, ext: str) -> str:
    """Key named after the SHA-256 of `data`, so identical uploads share one object."""
    ext = ext.lstrip(".").lower()
    if not _EXT.fullmatch(ext):
        raise InvalidStorageKey(f"bad extension {ext!r}")
    digest = hashlib.sha256(data).hexdigest()
    # a two-character fan-out keeps local directories small
    return validate_key(f"{prefix.strip('/')}/{digest[:2]}/{digest}.{ext}")


def cache_control_for(immutable: bool) -> str:
    return IMMUTABLE_CACHE_CONTROL if immutable else MUTABLE_CACHE_CONTROL


class Storage(abc.ABC):
    @abc.abstractmethod
    def put(self, key: str, data: bytes, content_type: str, *, immutable: bool = True) -> None:
        """Store `data`; `immutable` means the key will never hold other bytes (cache forever)."""

    @abc.abstractmethod
    def put_file(
        self, key: str, file: IO[bytes], content_type: str, *, immutable: bool = True
    ) -> None:
        """Store what `file` holds from its current position, read in chunks (never whole)."""

    @abc.abstractmethod
    def get(self, key: str) -> bytes:
        """Return the bytes, or raise StorageKeyNotFound."""

    @abc.abstractmethod
    def open(self, key: str) -> IO[bytes]:
        """A readable binary stream of the object (close it), or raise StorageKeyNotFound."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; deleting a missing key is not an error."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def content_type(self, key: str) -> str | None:
        """The content type given to `put`, or None when the key is missing."""

    @abc.abstractmethod
    def url(self, key: str, *, expires: int | None = None) -> str:
        """A URL a browser can fetch the object from (`expires` in seconds, where supported).

        Raises InvalidStorageKey for a private key (see PRIVATE_PREFIXES)."""

    @abc.abstractmethod
    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Every object whose key starts with `prefix` (for the orphan sweep), in no order."""

    @abc.abstractmethod
    def ping(self) -> None:
        """Raise StorageUnavailable when the backend is not usable (for /readyz)."""


@dataclass(frozen=True)
class LocalObject:
    path: Path
    content_type: str
    cache_control: str


class LocalStorage(Storage):
    """Files under `root`, served by the media blueprint at `base_url`.

    Content type and Cache-Control live in a JSON sidecar under `root/.meta/`, so they are served
    exactly as given to `put`, like S3 does. Keys cannot start with ".", so sidecars never collide.
    """

    def __init__(self, root: Path, base_url: str = "/media"):
        self.root = Path(root)
        self.base_url = base_url.rstrip("/")

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def _meta_path(self, key: str) -> Path:
        return self.root / ".meta" / f"{validate_key(key)}.json"

    def put(self, key: str, data: bytes, content_type: str, *, immutable: bool = True) -> None:
        meta = {"content_type": content_type, "cache_control": cache_control_for(immutable)}
        # metadata first: anyone who sees the new file also sees its metadata
        _write_atomic(self._meta_path(key), json.dumps(meta).encode())
        _write_atomic(self._path(key), data)

    def put_file(
        self, key: str, file: IO[bytes], content_type: str, *, immutable: bool = True
    ) -> None:
        meta = {"content_type": content_type, "cache_control": cache_control_for(immutable)}
        _write_atomic(self._meta_path(key), json.dumps(meta).encode())
        _write_atomic(self._path(key), file)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise StorageKeyNotFound(key) from None

    def open(self, key: str) -> IO[bytes]:
        try:
            return self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise StorageKeyNotFound(key) from None

    def delete(self, key: str) -> None:
        for path in (self._path(key), self._meta_path(key)):
            path.unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def content_type(self, key: str) -> str | None:
        try:
            return self.stat(key).content_type
        except StorageKeyNotFound:
            return None

    def stat(self, key: str) -> LocalObject:
        """Where the file is and how to serve it; raises StorageKeyNotFound / InvalidStorageKey."""
        path = self._path(key)
        # belt and braces against symlinks planted inside root
        if not path.is_file() or not path.resolve().is_relative_to(self.root.resolve()):
            raise StorageKeyNotFound(key)
        try:
            meta = json.loads(self._meta_path(key).read_bytes())
        except FileNotFoundError:  # a file copied in by hand: guess, and let clients revalidate
            guessed = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            meta = {"content_type": guessed, "cache_control": MUTABLE_CACHE_CONTROL}
        return LocalObject(path, meta["content_type"], meta["cache_control"])

    def url(self, key: str, *, expires: int | None = None) -> str:
        return f"{self.base_url}/{public_key(key)}"  # served by the app; `expires` has no meaning

    def list(self, prefix: str) -> Iterator[StoredObject]:
        top = self.root / prefix.strip("/")
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith("."):  # a temp file of a write in progress
                    continue
                path = Path(dirpath) / name
                try:
                    mtime = path.stat().st_mtime
                except FileNotFoundError:  # deleted while we walked
                    continue
                key = path.relative_to(self.root).as_posix()
                yield StoredObject(key, datetime.fromtimestamp(mtime, UTC))

    def ping(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"cannot create {self.root}: {exc}") from exc
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageUnavailable(f"{self.root} is not writable")


def _write_atomic(path: Path, data: bytes | IO[bytes]) -> None:
    """Write via a temp file + os.replace so readers never see a half-written file; `data` may
    be a stream, copied in chunks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                shutil.copyfileobj(data, f, CHUNK)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a front web server may need to read it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class S3Storage(Storage):
    """An S3 bucket (AWS or any S3-compatible service), optionally fronted by a public CDN."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        addressing_style: str | None = None,
        cdn_base_url: str | None = None,
        presign_expires: int = 3600,
    ):
        if addressing_style not in (None, "path", "virtual"):
            raise ValueError(
                f"S3 addressing style must be path or virtual, not {addressing_style!r}"
            )
        # S3-compatible servers rarely have per-bucket DNS names, so default to path style there
        style = addressing_style or ("path" if endpoint_url else "auto")
        self.bucket = bucket
        self.region = region
        self.cdn_base_url = cdn_base_url.rstrip("/") if cdn_base_url else None
        self.presign_expires = presign_expires
        # None credentials fall through to boto3's own chain (env, profile, instance role)
        session = boto3.session.Session(
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            region_name=region,
        )
        self.client = session.client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(
                # without this boto3 presigns with SigV2 for custom endpoints in us-east-1
                signature_version="s3v4",
                s3={"addressing_style": style},
                retries={"mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
            ),
        )

    def put(self, key: str, data: bytes, content_type: str, *, immutable: bool = True) -> None:
        self.client.put_object(
            Bucket=self.bucket,
            Key=validate_key(key),
            Body=data,
            ContentType=content_type,
            CacheControl=cache_control_for(immutable),
        )

    def put_file(
        self, key: str, file: IO[bytes], content_type: str, *, immutable: bool = True
    ) -> None:
        # upload_fileobj switches to a multipart upload for large files, part by part
        self.client.upload_fileobj(
            file,
            self.bucket,
            validate_key(key),
            ExtraArgs={"ContentType": content_type, "CacheControl": cache_control_for(immutable)},
        )

    def get(self, key: str) -> bytes:
        return self.open(key).read()

    def open(self, key: str) -> IO[bytes]:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=validate_key(key))
        except ClientError as exc:
            if _error_code(exc) in _MISSING_KEY:
                raise StorageKeyNotFound(key) from None
            raise
        return obj["Body"]

    def delete(self, key: str) -> None:
        # S3 answers 204 for missing keys too, which is the idempotence we promise
        self.client.delete_object(Bucket=self.bucket, Key=validate_key(key))

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            return self.client.head_object(Bucket=self.bucket, Key=validate_key(key))
        except ClientError as exc:
            if _error_code(exc) in _MISSING_KEY:
                return None
            raise

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def content_type(self, key: str) -> str | None:
        head = self._head(key)
        return head.get("ContentType") if head else None

    def url(self, key: str, *, expires: int | None = None) -> str:
        public_key(key)
        if self.cdn_base_url:  # the CDN serves public objects; `expires` does not apply
            return f"{self.cdn_base_url}/{key}"
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=expires if expires is not None else self.presign_expires,
        )

    def list(self, prefix: str) -> Iterator[StoredObject]:
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix
        ):
            for obj in page.get("Contents", []):
                yield StoredObject(obj["Key"], obj["LastModified"].astimezone(UTC))

    def ping(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError) as exc:
            raise StorageUnavailable(f"S3 bucket {self.bucket!r}: {exc}") from exc

    def ensure_bucket(self) -> None:
        """Create the bucket if missing (tests and operators; production buckets already exist)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if _error_code(exc) not in ("404", "NoSuchBucket"):
                raise
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region and self.region != "us-east-1":  # AWS rejects an explicit us-east-1
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self.client.create_bucket(**kwargs)


_MISSING_KEY = ("404", "NoSuchKey")  # GET says NoSuchKey; HEAD has no body, only the status


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def storage_from_config(config: Mapping[str, Any]) -> Storage:
    """S3Storage when S3_BUCKET is set, else LocalStorage under LOCAL_STORAGE_ROOT."""

    def opt(name: str) -> Any:
        return config.get(name) or None  # "" from an unset env var means "not configured"

    if opt("S3_BUCKET"):
        return S3Storage(
            config["S3_BUCKET"],
            endpoint_url=opt("S3_ENDPOINT_URL"),
            region=opt("S3_REGION"),
            access_key_id=opt("S3_ACCESS_KEY_ID"),
            secret_access_key=opt("S3_SECRET_ACCESS_KEY"),
            addressing_style=opt("S3_ADDRESSING_STYLE"),
            cdn_base_url=opt("CDN_BASE_URL"),
            presign_expires=int(opt("S3_PRESIGN_EXPIRES") or 3600),
        )
    return LocalStorage(
        Path(config["LOCAL_STORAGE_ROOT"]), config.get("LOCAL_STORAGE_URL", "/media")
    )
