"""The `incs` command: run, db upgrade, admin create, audit verify."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

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

    upgrade_if_behind(settings.database_url)
    app = create_app(settings)

    async def first_start(app: web.Application) -> None:
        from bot.web import CTX

        ctx = app[CTX]
        await ensure_policy_version(ctx.factory, settings.privacy.policy_version)
        login = await bootstrap_demo(ctx.factory, settings.webchat.default_org)
        url = settings.server.public_url.rstrip("/")
        if login is not None:
            # Printed to the terminal only (not the log), once: the password is not stored anywhere in clear.
            print(
                f"\n  Demo organization created.\n  Workbench: {url}/workbench\n"
                f"  Login:     {login.email}\n  Password:  {login.password}   (shown once)\n"
                f"  Web chat:  {url}/chat\n",
                flush=True,
            )
        else:
            print(f"\n  Workbench: {url}/workbench   Web chat: {url}/chat\n", flush=True)

    app.on_startup.insert(0, first_start)
    app.on_startup.append(_tune_gc)
    run(app, settings.server)
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

    upgrade(settings.database_url)
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


def cmd_audit_verify(settings: Settings, args: argparse.Namespace) -> int:
    """Check every chain; an intact one gets a fresh head checkpoint. Exit 1 naming the first bad row."""
    from sqlalchemy import select

    from bot.core.models import Organization
    from bot.core.orgs.audit import verify_chain, write_checkpoint
    from bot.core.storage.db import create_engine, session_factory, transaction

    async def run() -> int:
        engine = create_engine(settings.database_url)
        failures = 0
        try:
            async with transaction(session_factory(engine)) as session:
                org_ids: list[int | None] = [None, *(await session.scalars(select(Organization.id))).all()]
                for org_id in org_ids:
                    report = await verify_chain(session=session, org_id=org_id)
                    label = "platform" if org_id is None else f"org {org_id}"
                    erased = f", {report.erased} erased" if report.erased else ""
                    if report.ok:
                        await write_checkpoint(session=session, org_id=org_id, report=report)
                        print(f"{label}: {report.checked} events{erased}, chain intact")
                    else:
                        failures += 1
                        print(f"{label}: chain broken at event {report.broken_at}: {report.problem}"
                              f" (after {report.checked} good events{erased})")
        finally:
            await engine.dispose()
        return 1 if failures else 0

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
    audit = sub.add_parser("audit", help="audit log").add_subparsers(dest="audit_command", required=True)
    audit.add_parser("verify", help="check every hash chain").set_defaults(func=cmd_audit_verify)
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
