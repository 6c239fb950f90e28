"""Operator commands: `flask <group> <command>`."""

import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from app.infra import row_security
from app.jobs import RQBackend


class OperatorGroup(AppGroup):
    """Operator commands work across people: a row-security bypass, logged with the command."""

    def invoke(self, ctx: click.Context):
        with row_security.bypass(f"cli {ctx.info_name}"):
            return super().invoke(ctx)


worker_cli = OperatorGroup("worker", help="Background worker tools.")


@worker_cli.command("ping")
@click.option("--timeout", default=30, show_default=True, help="Seconds to wait for an answer.")
def worker_ping_command(timeout: int) -> None:
    """Send a job through the queue and wait until a worker has run it."""
    from app.tasks.maintenance import worker_ping

    backend = current_app.extensions["jobs"]
    if not isinstance(backend, RQBackend):
        raise click.ClickException("REDIS_URL is not set: jobs run inside the web process.")
    # A fresh id each time: two pings must be two answers, not one deduplicated job.
    rq_job = backend.queue(worker_ping.queue_name).enqueue(worker_ping, result_ttl=60)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = rq_job.get_status(refresh=True)
        if status == "finished":
            click.echo(f"worker answered: {rq_job.return_value()}")
            return
        if status == "failed":
            raise click.ClickException("the worker ran the job but it failed; see the worker log")
        time.sleep(0.2)
    raise click.ClickException(
        f"no worker answered within {timeout}s (is `python worker.py` running?)"
    )


@worker_cli.command("reconcile")
@click.option(
    "--stale-after",
    default=None,
    type=int,
    help="Seconds without progress before work counts as lost (default STALE_JOB_AFTER).",
)
def worker_reconcile_command(stale_after: int | None) -> None:
    """Re-queue work that Redis lost (after a flush or a crash); safe to run any time."""
    from datetime import timedelta

    from app.tasks.maintenance import reconcile

    seconds = current_app.config["STALE_JOB_AFTER"] if stale_after is None else stale_after
    requeued = reconcile(timedelta(seconds=seconds))
    for kind, ids in requeued.items():
        click.echo(
            f"{kind}: re-queued {len(ids)}" + (f" ({', '.join(map(str, ids))})" if ids else "")
        )


images_cli = OperatorGroup("images", help="Image processing tools.")


@images_cli.command("reprocess")
@click.argument("image_ids", nargs=-1, type=int)
@click.option("--failed", is_flag=True, help="Every image whose processing failed.")
@click.option("--all", "everything", is_flag=True, help="Every image (after a preset change).")
def images_reprocess_command(image_ids: tuple[int, ...], failed: bool, everything: bool) -> None:
    """Make the variants of the given images again."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models.image import Image, ImageStatus
    from app.services.images import library

    query = select(Image).order_by(Image.id)
    if image_ids:
        query = query.where(Image.id.in_(image_ids))
    elif failed:
        query = query.where(Image.status == ImageStatus.FAILED)
    elif not everything:
        raise click.UsageError("give image ids, --failed or --all")
    found = list(db.session.scalars(query))
    if missing := sorted(set(image_ids) - {image.id for image in found}):
        raise click.ClickException(f"no image with id {', '.join(map(str, missing))}")
    for image in found:
        library.reprocess(image)
    db.session.commit()
    click.echo(f"queued {len(found)} image(s) for processing")


users_cli = OperatorGroup("users", help="Manage accounts.")
tokens_cli = OperatorGroup("tokens", help="Manage personal API tokens.")


@users_cli.command("create")
@click.argument("email")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="At least 10 characters, not a common password (prompted when omitted).",
)
@click.option("--name", default="", help="Display name (defaults to the part before the @).")
@click.option("--admin", is_flag=True, help="Give the account the admin role.")
def users_create_command(email: str, password: str, name: str, admin: bool) -> None:
    """Create a verified account (operators vouch for the address, so no email is sent)."""
    from app.extensions import db
    from app.services.accounts.users import create_user
    from app.services.exceptions import DomainError

    try:
        user = create_user(
            email, password, name=name or email.partition("@")[0], verified=True, admin=admin
        )
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"created {'admin' if admin else 'user'} {user.email} (id {user.id})")


@tokens_cli.command("create")
@click.argument("email")
@click.option("--name", default="CLI token", show_default=True, help="What the token is for.")
def tokens_create_command(email: str, name: str) -> None:
    """Create an API token for EMAIL; the token alone is printed on the last line."""
    from app.extensions import db
    from app.models import User
    from app.services.accounts.api_tokens import create_token
    from app.services.exceptions import DomainError

    user = db.session.scalar(User.by_email(email))
    if user is None:
        raise click.ClickException(f"no account with the email {email}")
    try:
        token, raw = create_token(user, name)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    db.session.commit()
    click.echo(f"created token {token.name!r} (id {token.id}) for {user.email}; shown only once:")
    click.echo(raw)


analytics_cli = OperatorGroup("analytics", help="Analytics tools.")


@analytics_cli.command("rollup")
@click.option(
    "--day",
    "days",
    multiple=True,
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="A UTC day to (re)build, YYYY-MM-DD; repeatable. Default: yesterday and today.",
)
def analytics_rollup_command(days) -> None:
    """Write buffered events, rebuild daily counts (idempotent), prune what retention drops."""
    from datetime import UTC, datetime, timedelta

    from app.tasks.analytics import roll_up

    now = datetime.now(UTC)
    chosen = [day.date() for day in days] or [now.date() - timedelta(days=1), now.date()]
    done = roll_up(chosen, now)
    click.echo(
        f"days {', '.join(map(str, chosen))}: {done['rows']} daily rows; "
        f"pruned {done['events']} events, {done['salts']} salts"
    )


@click.command("generate-token-key")
def generate_token_key_command() -> None:
    """Print a new key for TOKEN_ENCRYPTION_KEYS (prepend it with the next version number)."""
    from app.services.crypto import generate_key

    click.echo(generate_key())


@click.command("rotate-token-keys")
def rotate_token_keys_command() -> None:
    """Re-encrypt every stored token and secret under the newest TOKEN_ENCRYPTION_KEYS key."""
    from app.extensions import db
    from app.services.crypto import EncryptionKeyError, reencrypt_all

    try:
        with row_security.bypass("cli rotate-token-keys"):
            moved = reencrypt_all()
            db.session.commit()
    except EncryptionKeyError as exc:
        raise click.ClickException(str(exc)) from None
    for column, count in moved.items():
        click.echo(f"{column}: {count} re-encrypted")
    click.echo(f"done: {sum(moved.values())} values now under the newest key")


def register_commands(app: Flask) -> None:
    app.cli.add_command(generate_token_key_command)
    app.cli.add_command(rotate_token_keys_command)
    app.cli.add_command(worker_cli)
    app.cli.add_command(images_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(tokens_cli)
    app.cli.add_command(analytics_cli)
