"""The app's routes, enumerated from its router (never a hand list), with their declared permission."""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiohttp import web

from bot.core.orgs.permissions import Permission
from workbench.auth import PERMISSION_ATTR

PARAM = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    permission: Permission | None

    @property
    def params(self) -> list[str]:
        return PARAM.findall(self.template)

    def url(self, values: dict[str, str]) -> str:
        return PARAM.sub(lambda m: values[m.group(1)], self.template)


def app_routes(app: web.Application) -> list[Route]:
    found: list[Route] = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        template = info.get("formatter") or info.get("path")
        if route.method == "HEAD" or not isinstance(template, str):
            continue  # HEAD mirrors GET; static has only a prefix
        found.append(Route(route.method, template, getattr(route.handler, PERMISSION_ATTR, None)))
    return found
