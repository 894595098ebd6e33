"""Which projections and reactors exist: built in, registered by entry point, or named in configuration.

* ``projections.BUILT_IN`` / ``reactors.BUILT_IN``: those that ship with orderstream;
* every entry point in the group ``orderstream.projections`` /
  ``orderstream.reactors`` (a plugin's ``pyproject.toml``:
  ``[project.entry-points."orderstream.projections"] my_view = "my_package.views:MyView"``);
* ``ORDERS_PROJECTIONS`` / ``ORDERS_REACTORS`` (``Settings.extra_projections``
  / ``extra_reactors``): ``module:Class`` strings.

Adding one this way changes nothing in ``domain/``, the relay or another
consumer. Two with one name are refused, a projection and a reactor too:
they would share checkpoints and tables.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import TypeVar

import projections as built_in
import reactors as built_in_reactors
from adapters.config import ConfigurationError, Settings
from projections.contract import Projection
from reactors.contract import Reactor

T = TypeVar("T", bound=Projection)

ENTRY_POINT_GROUP = "orderstream.projections"
REACTOR_ENTRY_POINT_GROUP = "orderstream.reactors"


def discover(settings: Settings, *, eps: Iterable[EntryPoint] | None = None) -> list[type[Projection]]:
    """Every projection, built-ins first, then entry points, then configuration."""
    found: list[tuple[type[Projection], str]] = [(p, "built in") for p in built_in.BUILT_IN]
    for ep in entry_points(group=ENTRY_POINT_GROUP) if eps is None else eps:
        found.append((_check(_load_entry_point(ep), f"entry point {ep.name} = {ep.value}"), f"entry point {ep.name}"))
    for spec in settings.extra_projections:
        found.append((_check(load_spec(spec), f"ORDERS_PROJECTIONS entry {spec!r}"), f"ORDERS_PROJECTIONS {spec}"))
    return _unique(found, "projections")


def discover_reactors(
    settings: Settings, *, eps: Iterable[EntryPoint] | None = None, projections: Sequence[type[Projection]] = ()
) -> list[type[Reactor]]:
    """Every reactor, built-ins first, then entry points, then configuration; none named like a projection."""
    found: list[tuple[type[Reactor], str]] = [(r, "built in") for r in built_in_reactors.BUILT_IN]
    for ep in entry_points(group=REACTOR_ENTRY_POINT_GROUP) if eps is None else eps:
        loaded = _load_entry_point(ep, REACTOR_ENTRY_POINT_GROUP)
        reactor = _check_reactor(loaded, f"entry point {ep.name} = {ep.value}")
        found.append((reactor, f"entry point {ep.name}"))
    for spec in settings.extra_reactors:
        origin = f"ORDERS_REACTORS entry {spec!r}"
        found.append((_check_reactor(load_spec(spec, "ORDERS_REACTORS"), origin), f"ORDERS_REACTORS {spec}"))
    reactors = _unique(found, "reactors")
    taken = {p.name: p for p in projections}
    for reactor in reactors:
        if reactor.name in taken:
            raise ConfigurationError(
                f"reactor {_where(reactor)} and projection {_where(taken[reactor.name])} are both named "
                f"{reactor.name!r}; rename one (they would share checkpoints)"
            )
    return reactors


def _unique(found: list[tuple[type[T], str]], what: str) -> list[type[T]]:
    by_name: dict[str, tuple[type[T], str]] = {}
    result: list[type[T]] = []
    for consumer, origin in found:
        seen = by_name.get(consumer.name)
        if seen is not None:
            if seen[0] is consumer:
                continue  # the same class registered twice (e.g. entry point and configuration)
            raise ConfigurationError(
                f"two {what} are named {consumer.name!r}: {_where(seen[0])} ({seen[1]}) and "
                f"{_where(consumer)} ({origin}); rename one"
            )
        by_name[consumer.name] = (consumer, origin)
        result.append(consumer)
    return result


def select_by_name(
    available: Sequence[type[T]], names: Sequence[str], what: str = "projection"
) -> list[type[T]]:
    """The projections (or reactors) called ``names`` (all of them if none is named)."""
    if not names:
        return list(available)
    by_name = {p.name: p for p in available}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ConfigurationError(
            f"no {what} named {', '.join(map(repr, unknown))}; known: {', '.join(sorted(by_name)) or 'none'}"
        )
    return [by_name[n] for n in dict.fromkeys(names)]


def load_spec(spec: str, variable: str = "ORDERS_PROJECTIONS") -> object:
    """The object named by ``"package.module:Class"`` (not checked: see ``_check``)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigurationError(f"{variable} entry {spec!r} must look like package.module:ClassName")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is not None and module_name.startswith(e.name):
            raise ConfigurationError(f"{variable} entry {spec!r}: no module named {e.name!r}") from None
        raise
    obj: object = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigurationError(
                f"{variable} entry {spec!r}: module {module_name} has no {attr!r}"
            ) from None
    return obj


def _load_entry_point(ep: EntryPoint, group: str = ENTRY_POINT_GROUP) -> object:
    try:
        return ep.load()
    except (ImportError, AttributeError) as e:
        raise ConfigurationError(f"entry point {ep.name} = {ep.value} in group {group} cannot be loaded: {e}") from None


def _check(obj: object, origin: str) -> type[Projection]:
    if not (isinstance(obj, type) and issubclass(obj, Projection) and "name" in vars(obj)):
        raise ConfigurationError(f"{origin} is not a Projection subclass with a name")
    if issubclass(obj, Reactor):
        raise ConfigurationError(f"{origin} is a Reactor; register it as a reactor (orderstream.reactors)")
    return obj


def _check_reactor(obj: object, origin: str) -> type[Reactor]:
    if not (isinstance(obj, type) and issubclass(obj, Reactor) and "name" in vars(obj)):
        raise ConfigurationError(f"{origin} is not a Reactor subclass with a name")
    return obj


def _where(projection: type[Projection]) -> str:
    return f"{projection.__module__}.{projection.__qualname__}"
