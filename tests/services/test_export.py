"""The data export against the schema: every table that references a person (directly or through
a table that does) is in the zip with exactly their rows, every stored file with its bytes, and
no secret anywhere in it. On PostgreSQL + S3 and on the embedded profile (SQLite + disk)."""

from __future__ import annotations

import json
import zipfile
from collections import defaultdict

import pytest
from sqlalchemy import or_, select

from app.extensions import db
from app.models import AccountSlot, DataExport, ExportStatus, Image, PlatformAccount, User
from app.services.accounts import export
from app.services.accounts.export.tables import BY_TABLE
from tests.export_support import every_byte, open_zip, rich_person, variants_of_secret
from tests.sync_support import ready_images


def referencing_tables() -> dict[str, list]:
    """Every table that points at users, or at a table that does: {table: its FK columns
    (with what they point at) that lead to the person}."""
    leads: dict[str, list] = defaultdict(list)
    reached = {"users"}
    changed = True
    while changed:
        changed = False
        for table in db.metadata.sorted_tables:
            for fk in table.foreign_keys:
                target = fk.column.table.name
                if target in reached and (fk.parent, fk.column) not in leads[table.name]:
                    leads[table.name].append((fk.parent, fk.column))
                    if table.name not in reached:
                        reached.add(table.name)
                        changed = True
    leads["users"].append((db.metadata.tables["users"].c.id, None))
    return dict(leads)


def owned_keys(table_name: str, user_id: int, leads: dict, depth: int = 0) -> set[tuple]:
    """Primary keys of the rows of `table_name` that reference the person by any path."""
    table = db.metadata.tables[table_name]
    conditions = []
    for column, target in leads[table_name]:
        if target is None or target.table.name == "users":
            conditions.append(column == user_id)
        elif depth < 6 and target.table.name != table_name:
            parents = owned_keys(target.table.name, user_id, leads, depth + 1)
            ids = [key[0] for key in parents]
            conditions.append(column.in_(ids))
    query = select(*table.primary_key.columns).where(or_(*conditions))
    return {tuple(row) for row in db.session.execute(query)}


@pytest.fixture
def built(app, make_user, run_jobs, webhook_receiver):
    pat = make_user(email="pat@example.com", name="Pat")
    sam = make_user(email="sam-marker@example.com", name="Samuelmarker")
    ready_images(sam, run_jobs, seed=7)  # someone else's pictures: never in Pat's zip
    person = rich_person(db.session.get(User, pat.id), run_jobs, webhook_receiver.url + "/in")
    run_jobs()  # notices and mail from making all that
    row = export.request_export(db.session.get(User, pat.id))
    db.session.commit()
    # What the database holds about Pat as the export starts (its own "ready" notice and mail
    # come after the zip).
    leads = referencing_tables()
    person.rows = {
        table: {tuple(str(v) for v in key) for key in owned_keys(table, pat.id, leads)}
        for table in leads
    }
    run_jobs()
    row = db.session.get(DataExport, row.id)
    assert row.status is ExportStatus.READY, row.error
    data = app.extensions["storage"].get(row.storage_key)
    assert row.bytes == len(data)
    return person, row, data


def test_every_table_that_references_the_person_is_exported_with_exactly_their_rows(built):
    person, row, data = built
    archive = open_zip(data)
    names = set(archive.namelist())
    leads = referencing_tables()
    assert {"users", "images", "image_variants", "webhook_attempts", "data_exports"} <= set(leads)
    missing = [t for t in leads if f"data/{t}.json" not in names or t not in BY_TABLE]
    assert not missing, f"tables about a person that the export leaves out: {missing}"

    for table_name in leads:
        exported = json.loads(archive.read(f"data/{table_name}.json"))
        pk = [c.name for c in db.metadata.tables[table_name].primary_key.columns]
        got = {tuple(str(r[name]) for name in pk) for r in exported}
        expected = person.rows[table_name]
        assert got == expected, table_name
        assert expected or table_name in ("data_exports",), f"no {table_name} row to check"
        assert archive.getinfo(f"data/{table_name}.json").compress_type == zipfile.ZIP_DEFLATED

    (user,) = json.loads(archive.read("data/users.json"))
    assert user["email"] == "pat@example.com" and "password_hash" not in user
    assert "session_version" not in user
    (account,) = json.loads(archive.read("data/platform_accounts.json"))
    assert account["handle"] == "@pat@masto.example"
    assert not {"access_token", "refresh_token", "secret"} & set(account)
    (hook,) = json.loads(archive.read("data/webhook_endpoints.json"))
    assert "secret" not in hook and "previous_secret" not in hook
    (token,) = json.loads(archive.read("data/api_tokens.json"))
    assert token["name"] == "deploy script" and "token_hash" not in token
    (profile,) = json.loads(archive.read("data/profiles.json"))
    assert profile["handle"] == "PatQ"
    exports = json.loads(archive.read("data/data_exports.json"))
    assert [e["id"] for e in exports] == [row.id]


def test_every_stored_file_is_in_the_zip_with_its_bytes_and_pictures_are_not_recompressed(
    app, built
):
    person, _row, data = built
    archive = open_zip(data)
    storage = app.extensions["storage"]
    expected: dict[str, bytes] = {}
    for image in db.session.scalars(select(Image).where(Image.user_id == person.user_id)):
        ext = {"jpeg": "jpg"}.get(image.format.lower(), image.format.lower())
        expected[f"images/{image.id}/original.{ext}"] = storage.get(image.original_key)
        assert image.preview_key
        expected[f"images/{image.id}/preview.jpg"] = storage.get(image.preview_key)
        assert image.variants
        for variant in image.variants:
            ext = {"jpeg": "jpg"}.get(variant.format.lower(), variant.format.lower())
            path = f"images/{image.id}/variants/{variant.preset_key}.{ext}"
            expected[path] = storage.get(variant.storage_key)
    slot = db.session.scalar(
        select(AccountSlot).join(PlatformAccount).where(PlatformAccount.user_id == person.user_id)
    )
    expected[f"drift/{slot.account_id}-avatar.jpg"] = storage.get(slot.live_key)

    files = {n for n in archive.namelist() if not n.startswith("data/")} - {
        "README.txt",
        "files.json",
    }
    assert files == set(expected)
    for path, content in expected.items():
        assert archive.read(path) == content, path
        assert archive.getinfo(path).compress_type == zipfile.ZIP_STORED
    manifest = json.loads(archive.read("files.json"))
    assert {entry["path"] for entry in manifest} == set(expected)
    readme = archive.read("README.txt").decode()
    assert "data/image_variants.json" in readme or "image_variants" in readme
    assert "images/<image id>/original" in readme
    assert archive.testzip() is None


def test_no_secret_and_nobody_elses_data_is_anywhere_in_the_zip(built):
    person, _row, data = built
    everything = every_byte(data)
    assert len(person.secrets) >= 12
    for secret in person.secrets:
        for form in variants_of_secret(secret):
            assert form not in everything, f"a secret leaked: {secret[:12]}…"
    assert b"sam-marker@example.com" not in everything
    assert b"Samuelmarker" not in everything


def test_stored_keys_lists_every_export_file_of_the_person(app, built):
    person, row, _data = built
    keys = export.stored_keys(person.user_id)
    assert keys == [row.storage_key]
    assert row.storage_key.startswith(f"exports/{person.user_id}/")
    # an upload whose row never said so (the worker died after storing it) is found too
    stray = f"exports/{person.user_id}/999.zip"
    app.extensions["storage"].put(stray, b"zip", "application/zip")
    assert export.stored_keys(person.user_id) == sorted([row.storage_key, stray])
    assert export.stored_keys(person.user_id + 1000) == []
