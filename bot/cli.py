"""The `incs` command: run, db upgrade, admin create, audit verify, retention."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import Any

from bot.config import ConfigError, Settings, load_settings


def _configure_logging(settings: Settings) -> None:
    from bot.logs import configure

    configure(settings.logging.level)


def cmd_run(settings: Settings, _args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.app import create_app
    from bot.bootstrap import bootstrap_demo, ensure_policy_version
    from bot.migrate import upgrade_if_behind
    from bot.server import run

    upgrade_if_behind(settings.database_url, secret_key=settings.secret_key)
    app = create_app(settings)

    demo_login: list[Any] = []

    async def first_start(app: web.Application) -> None:
        from bot.web import CTX

        ctx = app[CTX]
        await ensure_policy_version(ctx.factory, settings.privacy.policy_version)
        demo_login.append(await bootstrap_demo(ctx.factory, settings.webchat.default_org))

    def listening(url: str) -> None:
        # Printed once the socket is bound, with the address it really is (server.port may be overridden or 0);
        # to the terminal only (not the log), once: the password is not stored anywhere in clear.
        public = settings.server.public_url.rstrip("/")
        lines = [f"  Listening on {url}"]
        if public != url:
            lines.append(f"  Public URL:   {public} (server.public_url: links in pushes, the Telegram webhook)")
        login = demo_login[0] if demo_login else None
        if login is not None:
            lines += ["  Demo organization created.", f"  Workbench: {url}/workbench",
                      f"  Login:     {login.email}", f"  Password:  {login.password}   (shown once)", f"  Web chat:  {url}/chat"]
        else:
            lines.append(f"  Workbench: {url}/workbench   Web chat: {url}/chat")
        print("\n" + "\n".join(lines) + "\n", flush=True)

    app.on_startup.insert(0, first_start)
    app.on_startup.append(_tune_gc)
    run(app, settings.server, on_listening=listening)
    return 0


async def _tune_gc(_app: object) -> None:
    """Objects alive after start-up (modules, ORM mappers, templates) never need collecting again; and the
    hot path allocates many short-lived rows, so collect the young generation less often (fewer pauses)."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def cmd_db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    from bot.migrate import upgrade

    upgrade(settings.database_url, secret_key=settings.secret_key)
    print("database is up to date")
    return 0


def cmd_admin_create(settings: Settings, args: argparse.Namespace) -> int:
    from bot.core.orgs.agents import create_agent, generate_password
    from bot.core.orgs.organizations import get_organization_by_slug
    from bot.core.storage.db import create_engine, session_factory, transaction

    async def run() -> str:
        engine = create_engine(settings.database_url)
        try:
            async with transaction(session_factory(engine)) as session:
                # --platform: a platform admin, who belongs to no organization.
                org_id = None if args.platform else (await get_organization_by_slug(session=session, slug=args.org)).id
                password = args.password or generate_password()
                await create_agent(session=session, org_id=org_id, email=args.email, password=password, name=args.name or "",
                                   role="platform_admin" if args.platform else args.role)
                return password
        finally:
            await engine.dispose()

    password = asyncio.run(run())
    where = "at the platform level" if args.platform else f"in {args.org}"
    print(f"agent {args.email} created {where}; password: {password}" if not args.password else "agent created")
    return 0


def cmd_admin_reset_totp(settings: Settings, args: argparse.Namespace) -> int:
    """For an agent no administrator can help (an organization's only main administrator, a platform admin): their
    sessions end, the audit log records it and they get an email; they sign in with their password and set it up again."""
    import bot.all_models  # noqa: F401 - the email's outbox row refers to tables of other features
    from bot.core.notifications.account import tell_two_factor_reset
    from bot.core.orgs.organizations import get_organization_by_slug
    from bot.core.orgs.team import reset_two_factor_by_operator
    from bot.core.storage.db import create_engine, session_factory, transaction

    async def run() -> None:
        engine = create_engine(settings.database_url)
        try:
            async with transaction(session_factory(engine)) as session:
                org_id = None if args.platform else (await get_organization_by_slug(session=session, slug=args.org)).id
                agent = await reset_two_factor_by_operator(session=session, org_id=org_id, email=args.email)
                await tell_two_factor_reset(session=session, agent=agent, who="The operator of INCS Support")
        finally:
            await engine.dispose()

    asyncio.run(run())  # a DomainError (no such organization or agent, already off) is printed by main: exit 1
    print(f"two-factor login of {args.email} turned off; they sign in with their password and set it up again")
    return 0


def cmd_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    """Check every chain (and its archive files); an intact one gets a fresh head checkpoint. Exit 1 naming the first bad row."""
    from sqlalchemy import select

    from bot.core.orgs.audit import verify_chain, write_checkpoint
    from bot.core.orgs.audit_archive import verify_archives
    from bot.core.orgs.models import Organization
    from bot.core.storage.db import create_engine, session_factory, transaction

    async def run() -> int:
        engine = create_engine(settings.database_url)
        failures = 0
        try:
            async with transaction(session_factory(engine)) as session:
                org_ids: list[int | None] = [None, *(await session.scalars(select(Organization.id))).all()]
                for org_id in org_ids:
                    label = "platform" if org_id is None else f"org {org_id}"
                    in_files, problem = await verify_archives(session=session, data_dir=settings.data_dir, org_id=org_id)
                    if problem:
                        failures += 1
                        print(f"{label}: {problem}")
                        continue
                    report = await verify_chain(session=session, org_id=org_id)
                    erased = f", {report.erased} erased" if report.erased else ""
                    archived = f", {in_files} archived" if in_files else ""
                    if report.ok:
                        await write_checkpoint(session=session, org_id=org_id, report=report)
                        print(f"{label}: {report.checked} events{erased}{archived}, chain intact")
                    else:
                        failures += 1
                        print(f"{label}: chain broken at event {report.broken_at}: {report.problem}"
                              f" (after {report.checked} good events{erased}{archived})")
        finally:
            await engine.dispose()
        return 1 if failures else 0

    return asyncio.run(run())


def cmd_retention(settings: Settings, args: argparse.Namespace) -> int:
    """Run retention now (or, with --dry-run, print what a run would remove), per category. Exit 1 when another
    process holds the retention job's sweep lock (PostgreSQL, or Redis)."""
    from bot.core.common.sweep_lock import RedisLock, make_sweep_lock
    from bot.core.retention.purge import run as run_retention
    from bot.core.retention.sweeps import JOB
    from bot.core.storage.db import create_engine, session_factory

    async def run() -> int:
        engine = create_engine(settings.database_url)
        lock = make_sweep_lock(engine=engine, database_url=settings.database_url, redis_url=settings.redis.url,
                               namespace=settings.redis.namespace)
        try:
            async with lock.hold(JOB) as mine:
                if not mine:
                    print("retention is running in another process; try again later")
                    return 1
                report = await run_retention(factory=session_factory(engine), config=settings.retention,
                                             data_dir=settings.data_dir, dry_run=args.dry_run)
        finally:
            if isinstance(lock, RedisLock):
                await lock.close()
            await engine.dispose()
        for line in report.lines():
            print(line)
        print(f"{'dry run' if args.dry_run else 'run'} took {report.seconds:.1f} s")
        return 0

    return asyncio.run(run())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="incs", description="INCS Support server")
    parser.add_argument("--config", help="path to config.yaml (default: ./config.yaml or $INCS_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="serve web chat, workbench and channels").set_defaults(func=cmd_run)
    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)
    admin = sub.add_parser("admin", help="agents").add_subparsers(dest="admin_command", required=True)
    create = admin.add_parser("create", help="create an agent")
    scope = create.add_mutually_exclusive_group(required=True)
    scope.add_argument("--org", help="organization slug")
    scope.add_argument("--platform", action="store_true", help="a platform admin (no organization)")
    create.add_argument("--email", required=True)
    create.add_argument("--name")
    create.add_argument("--role", default="admin")
    create.add_argument("--password", help="default: generated and printed once")
    create.set_defaults(func=cmd_admin_create)
    reset = admin.add_parser("reset-totp", help="turn off an agent's two-factor login (a lost phone)")
    where = reset.add_mutually_exclusive_group(required=True)
    where.add_argument("--org", help="organization slug")
    where.add_argument("--platform", action="store_true", help="a platform admin (no organization)")
    reset.add_argument("--email", required=True)
    reset.set_defaults(func=cmd_admin_reset_totp)
    audit = sub.add_parser("audit", help="audit log").add_subparsers(dest="audit_command", required=True)
    audit.add_parser("verify", help="check every hash chain").set_defaults(func=cmd_audit_verify)
    retention = sub.add_parser("retention", help="remove what is past its retention period now")
    retention.add_argument("--dry-run", action="store_true", help="print what would be removed, per category; change nothing")
    retention.set_defaults(func=cmd_retention)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from pathlib import Path

        settings = load_settings(Path(args.config) if args.config else None)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings)
    from bot.core.common.errors import DomainError

    try:
        return int(args.func(settings, args))
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    logging.basicConfig()
    sys.exit(main())
