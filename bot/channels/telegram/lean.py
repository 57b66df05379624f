"""aiogram's ~400 Telegram types and ~230 method models without ~100 MB of validators built at import.

aiogram declares its models `defer_build=True`, then `aiogram/types/__init__.py` calls `model_rebuild()` on every
one of them to resolve their forward references, which builds every validator and serializer at import: about
80 MB of a process's memory, most of it for types this bot never receives. While that module runs, the hook
below turns those calls into what they are for (the names they resolve are put into each type's module, where
pydantic looks them up), and pydantic builds each validator on its first use instead: an update parses exactly as
before (tests/channels/telegram/test_lean_import.py builds every type this way and parses updates).

aiogram's methods (SendMessage, ...) are not declared `defer_build`: each method class built its validator when
aiogram/methods/__init__.py imported it, and with it the schemas of every type it takes (26 MB of the server's
idle memory, 149 MB with Telegram on against the 150 MB target). Once aiogram/methods/base.py has run, the hook
declares its base models `defer_build`, so each method is built on its first use too: a server that only sends
messages builds a handful.

`install()` runs when bot.channels.telegram is imported, before any module of this package imports aiogram. If
aiogram was imported already, or a later version changes the loop, nothing changes: the models are built eagerly.
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
METHODS = "aiogram.methods.base"


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


def _deferred_methods(execute: Any, module: ModuleType) -> None:
    """aiogram/methods/base.py, then its method models declared `defer_build`: each method class defined after it
    (aiogram/methods/__init__.py imports them all) gets its validator and serializer when it is first used, as the
    types do. Answers (`Response[...]`) likewise."""
    execute(module)
    for name in ("TelegramMethod", "Response"):
        config = getattr(getattr(module, name, None), "model_config", None)
        if isinstance(config, dict):
            config["defer_build"] = True  # read by each subclass (and parametrization) made from here on


def _deferred_types(execute: Any, module: ModuleType) -> None:
    with _deferred_rebuilds():
        execute(module)


_WRAPPERS = {TYPES: _deferred_types, METHODS: _deferred_methods}


class _Finder(importlib.abc.MetaPathFinder):
    """Wraps the execution of aiogram/types/__init__.py and of aiogram/methods/base.py, once each."""

    def __init__(self) -> None:
        self.pending: set[str] = set()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.pending:
            return None
        self.pending.discard(fullname)
        uninstall()  # the lookup below must not come back here
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            if self.pending:
                sys.meta_path.insert(0, self)
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        execute, wrapper = loader.exec_module, _WRAPPERS[fullname]

        def exec_module(module: ModuleType) -> None:
            wrapper(execute, module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


_FINDER = _Finder()


def install() -> None:
    _FINDER.pending = {name for name in _WRAPPERS if name not in sys.modules}
    if _FINDER.pending and _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
