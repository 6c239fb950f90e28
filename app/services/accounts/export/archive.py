"""Writing the export's zip: a temporary file on disk, never the whole archive in memory.

JSON is deflated; pictures are stored as they are (already compressed). Each stored file is
copied from storage in chunks, and the finished zip is uploaded as a stream (multipart on S3).
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from sqlalchemy import select

from app.extensions import db
from app.infra.storage import CHUNK, Storage, StorageKeyNotFound
from app.models import AccountSlot, Image, ImageVariant, PlatformAccount
from app.services.accounts.export.tables import PARTS, dump

log = logging.getLogger(__name__)

_EXTENSIONS = {"jpeg": "jpg", "jpg": "jpg", "png": "png", "webp": "webp", "gif": "gif"}

README = """\
Your Linkarooie data
====================

Everything Linkarooie holds about you, as of {made} (UTC).

data/<table>.json
    One file per kind of record, each a JSON array of rows as stored (times in UTC, ISO 8601):
{tables}
    Left out on purpose: your password hash, the tokens and passwords of connected accounts,
    webhook signing secrets, API token hashes and session keys. Addresses of visitors and of
    your own sign-ins were never stored, only keyed hashes of them.

images/<image id>/original.<ext>
    Each picture exactly as you uploaded it (with any metadata it carried).
images/<image id>/preview.jpg
    The downscaled copy the crop editor shows.
images/<image id>/variants/<preset>.<ext>
    The file made for each platform (see data/image_variants.json for sizes).
drift/<account id>-<slot>.<ext>
    Thumbnails of pictures a platform showed instead of ours, found by the drift watch.

files.json lists every file in this archive with the record it belongs to.
{missing}"""


@dataclass
class Built:
    bytes: int
    files: int
    missing: list[str] = field(default_factory=list)


def _ext(fmt: str | None, key: str) -> str:
    return _EXTENSIONS.get((fmt or "").lower()) or key.rsplit(".", 1)[-1].lower()


def stored_files(user_id: int) -> Iterator[tuple[str, str, dict]]:
    """(path in the zip, storage key, what it belongs to) for every stored file of the person."""
    for image in db.session.scalars(
        select(Image).where(Image.user_id == user_id).order_by(Image.id)
    ):
        base = f"images/{image.id}"
        about = {"table": "images", "id": image.id}
        yield f"{base}/original.{_ext(image.format, image.original_key)}", image.original_key, about
        if image.preview_key:
            yield f"{base}/preview.{_ext(None, image.preview_key)}", image.preview_key, about
        for variant in db.session.scalars(
            select(ImageVariant).where(ImageVariant.image_id == image.id).order_by(ImageVariant.id)
        ):
            ext = _ext(variant.format, variant.storage_key)
            path = f"{base}/variants/{variant.preset_key}.{ext}"
            yield path, variant.storage_key, {"table": "image_variants", "id": variant.id}
    slots = select(AccountSlot).join(PlatformAccount).where(PlatformAccount.user_id == user_id)
    for slot in db.session.scalars(slots.order_by(AccountSlot.id)):
        if slot.live_key:
            path = f"drift/{slot.account_id}-{slot.slot}.{_ext(None, slot.live_key)}"
            yield path, slot.live_key, {"table": "account_slots", "id": slot.id}


def _entry(zf: zipfile.ZipFile, path: str, compress: int) -> IO[bytes]:
    info = zipfile.ZipInfo(path, date_time=time.gmtime()[:6])
    info.compress_type = compress
    info.external_attr = 0o644 << 16
    return zf.open(info, "w", force_zip64=True)


def _write_chunks(zf: zipfile.ZipFile, path: str, chunks: Iterable[bytes]) -> None:
    with _entry(zf, path, zipfile.ZIP_DEFLATED) as out:
        for chunk in chunks:
            out.write(chunk)


def write_zip(user_id: int, out: IO[bytes], storage: Storage, made: str) -> Built:
    """Write the person's whole export into `out` (a seekable file)."""
    built = Built(bytes=0, files=0)
    manifest: list[dict] = []
    with zipfile.ZipFile(out, "w", allowZip64=True) as zf:
        for part in PARTS:
            _write_chunks(zf, f"data/{part.table}.json", dump(part, user_id))
        seen: set[str] = set()
        for path, key, about in stored_files(user_id):
            if path in seen:
                continue
            seen.add(path)
            try:
                source = storage.open(key)
            except StorageKeyNotFound:
                built.missing.append(path)  # deleted meanwhile, or lost: said in the README
                continue
            try:
                with _entry(zf, path, zipfile.ZIP_STORED) as entry:
                    shutil.copyfileobj(source, entry, CHUNK)
            finally:
                source.close()
            built.files += 1
            manifest.append({"path": path, **about})
        _write_chunks(zf, "files.json", [_json(manifest)])
        _write_chunks(zf, "README.txt", [_readme(made, built.missing).encode()])
    out.flush()
    built.bytes = out.tell()
    return built


def _json(value) -> bytes:
    return json.dumps(value, indent=1).encode()


def _readme(made: str, missing: list[str]) -> str:
    width = max(len(part.table) for part in PARTS)
    tables = "\n".join(f"      {part.table:<{width}}  {part.why}" for part in PARTS)
    note = ""
    if missing:
        listed = "\n".join(f"    {path}" for path in missing)
        note = f"\nThese files were gone from storage when the archive was made:\n{listed}\n"
    return README.format(made=made, tables=tables, missing=note)


def build_and_store(user_id: int, key: str, storage: Storage, made: str) -> Built:
    """Write the zip to a temporary file, then upload it to `key` as a stream."""
    # On disk (TMPDIR), not in memory: an archive of many pictures can be large.
    with tempfile.TemporaryFile(prefix="linkarooie-export-") as out:
        built = write_zip(user_id, out, storage, made)
        out.seek(0)
        storage.put_file(key, out, "application/zip", immutable=False)
    log.info("export for user %s: %d bytes, %d files", user_id, built.bytes, built.files)
    return built
