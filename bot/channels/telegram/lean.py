"""aiogram's ~300 Telegram types without ~80 MB of validators built at import.

aiogram declares its models `defer_build=True`, then `aiogram/types/__init__.py` calls `model_rebuild()` on every
one of them to resolve their forward references, which builds every validator and serializer at import: about
80 MB of a process's memory, most of it for types this bot never receives. While that module runs, the hook
below turns those calls into what they are for (the names they resolve are put into each type's module, where
pydantic looks them up), and pydantic builds each validator on its first use instead: an update parses exactly as
before (tests/channels/telegram/test_lean_import.py builds every type this way and parses updates).

`install()` runs when bot.channels.telegram is imported, before any module of this package imports aiogram. If
aiogram was imported already, or a later version changes the loop, nothing changes: the types are built eagerly.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import Any

TYPES = "aiogram.types"


@contextmanager
def _deferred_rebuilds() -> Iterator[None]:
    from pydantic import BaseModel

    original = BaseModel.model_rebuild.__func__  # type: ignore[attr-defined]

    def rebuild(cls: type[BaseModel], *args: Any, _types_namespace: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        if _types_namespace is None or not cls.__module__.startswith("aiogram."):
            return original(cls, *args, _types_namespace=_types_namespace, **kwargs)
        module = sys.modules[cls.__module__].__dict__
        for name, value in _types_namespace.items():
            module.setdefault(name, value)  # where pydantic resolves the forward references when it builds
        return None

    BaseModel.model_rebuild = classmethod(rebuild)  # type: ignore[method-assign,assignment,arg-type]
    try:
        yield
    finally:
        BaseModel.model_rebuild = classmethod(original)  # type: ignore[method-assign,assignment]


class _Finder(importlib.abc.MetaPathFinder):
    """One shot: wraps the execution of aiogram/types/__init__.py."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != TYPES:
            return None
        uninstall()
        spec = importlib.util.find_spec(fullname)
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        execute = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            with _deferred_rebuilds():
                execute(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


_FINDER = _Finder()


def install() -> None:
    if TYPES not in sys.modules and _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
