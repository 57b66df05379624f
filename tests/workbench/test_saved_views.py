"""Saved views are the agent's own: renamed, given new filters and deleted only by their owner, only with the form's
CSRF token; another agent's (or organization's) view is not found; a rename onto another of one's names is refused."""

from __future__ import annotations

import aiohttp
from sqlalchemy import select

from bot.core.orgs.agents import create_agent
from bot.core.search.models import SavedView
from bot.core.storage.db import transaction
from tests.conftest import Server
from tests.utils.factories import PASSWORD, OrgWithAdmin, login, make_org


async def _views(server: Server) -> list[tuple[int, int, str, dict[str, str]]]:
    async with server.ctx.factory() as session:
        rows = await session.scalars(select(SavedView).order_by(SavedView.id))
        return [(v.id, v.agent_id, v.name, dict(v.query)) for v in rows]


async def test_an_agent_renames_refilters_and_deletes_only_their_own_views(server: Server, demo: OrgWithAdmin) -> None:
    async with transaction(server.ctx.factory) as session:
        colleague = await create_agent(session=session, org_id=demo.org.id, email="colleague@demo.example.com",
                                       password=PASSWORD, role="agent")
    rival = await make_org(server.ctx.factory, slug="rival", name="Rival")
    base = f"{server.url}/workbench/search/views"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as mine, \
            aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as theirs:
        csrf = await login(mine, server.url, demo.admin.email)
        for name, q in (("Refunds", "refund"), ("Late", "late")):
            async with mine.post(base, data={"csrf_token": csrf, "name": name, "q": q}, allow_redirects=False) as resp:
                assert resp.status == 303
        (refunds, owner, _, _), (late, _, _, _) = await _views(server)
        assert owner == demo.admin.id

        # rename and new filters, as the edit form posts them
        form = {"csrf_token": csrf, "name": "  Refunds   waiting ", "q": "refund", "status": "open", "unread": "1"}
        async with mine.post(f"{base}/{refunds}", data=form, allow_redirects=False) as resp:
            assert resp.status == 303 and f"view={refunds}" in resp.headers["Location"]
        assert (await _views(server))[0] == (refunds, demo.admin.id, "Refunds waiting",
                                             {"q": "refund", "status": "open", "unread": "1"})
        async with mine.get(f"{server.url}/workbench/search?q=refund&status=open&unread=1&view={refunds}") as resp:
            page = await resp.text()
        assert 'id="edit-view-name"' in page and 'value="Refunds waiting"' in page

        # without the form's CSRF token, onto another of one's names, bad input: refused, nothing changed
        before = await _views(server)
        for data, status in (({"name": "X"}, 403), ({"csrf_token": "forged", "name": "X"}, 403),
                             ({"csrf_token": csrf, "name": "Late"}, 409), ({"csrf_token": csrf, "name": "  "}, 400),
                             ({"csrf_token": csrf, "name": "X", "assignee": "me"}, 400)):
            async with mine.post(f"{base}/{refunds}", data=data, allow_redirects=False) as resp:
                assert resp.status == status, (data, resp.status)
        async with mine.post(f"{base}/{late}/delete", data={}, allow_redirects=False) as resp:
            assert resp.status == 403
        assert await _views(server) == before

        # a colleague in the same organization, and another organization's admin: not found, nothing changed
        for email in (colleague.email, rival.admin.email):
            other_csrf = await login(theirs, server.url, email)
            async with theirs.post(f"{base}/{refunds}", data={"csrf_token": other_csrf, "name": "Mine now"},
                                   allow_redirects=False) as resp:
                assert resp.status == 404
            async with theirs.post(f"{base}/{late}/delete", data={"csrf_token": other_csrf}, allow_redirects=False) as resp:
                assert resp.status == 404
            async with theirs.get(f"{server.url}/workbench/search?view={refunds}") as resp:
                assert "edit-view" not in await resp.text()
            theirs.cookie_jar.clear()
        assert await _views(server) == before

        async with mine.post(f"{base}/{late}/delete", data={"csrf_token": csrf}, allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"].endswith("q=late")
        assert [v[0] for v in await _views(server)] == [refunds]
