"""Which projections exist: built in, registered by entry point, or named in configuration.

* ``projections.BUILT_IN``: the read models that ship with orderstream;
* every entry point in the group ``orderstream.projections`` (a plugin's
  ``pyproject.toml``: ``[project.entry-points."orderstream.projections"]
  my_view = "my_package.views:MyView"``);
* ``ORDERS_PROJECTIONS`` (``Settings.extra_projections``): ``module:Class``
  strings.

Adding a projection this way changes nothing in ``domain/``, the relay or
another projection. Two projections with one name are refused: they would
share checkpoints and tables.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from importlib.metadata import EntryPoint, entry_points

import projections as built_in
from adapters.config import ConfigurationError, Settings
from projections.contract import Projection

ENTRY_POINT_GROUP = "orderstream.projections"


def discover(settings: Settings, *, eps: Iterable[EntryPoint] | None = None) -> list[type[Projection]]:
    """Every projection, built-ins first, then entry points, then configuration."""
    found: list[tuple[type[Projection], str]] = [(p, "built in") for p in built_in.BUILT_IN]
    for ep in entry_points(group=ENTRY_POINT_GROUP) if eps is None else eps:
        found.append((_check(_load_entry_point(ep), f"entry point {ep.name} = {ep.value}"), f"entry point {ep.name}"))
    for spec in settings.extra_projections:
        found.append((_check(load_spec(spec), f"ORDERS_PROJECTIONS entry {spec!r}"), f"ORDERS_PROJECTIONS {spec}"))

    by_name: dict[str, tuple[type[Projection], str]] = {}
    result: list[type[Projection]] = []
    for projection, origin in found:
        seen = by_name.get(projection.name)
        if seen is not None:
            if seen[0] is projection:
                continue  # the same class registered twice (e.g. entry point and configuration)
            raise ConfigurationError(
                f"two projections are named {projection.name!r}: {_where(seen[0])} ({seen[1]}) and "
                f"{_where(projection)} ({origin}); rename one"
            )
        by_name[projection.name] = (projection, origin)
        result.append(projection)
    return result


def select_by_name(available: Sequence[type[Projection]], names: Sequence[str]) -> list[type[Projection]]:
    """The projections called ``names`` (all of them if none is named)."""
    if not names:
        return list(available)
    by_name = {p.name: p for p in available}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ConfigurationError(
            f"no projection named {', '.join(map(repr, unknown))}; known: {', '.join(sorted(by_name)) or 'none'}"
        )
    return [by_name[n] for n in dict.fromkeys(names)]


def load_spec(spec: str) -> object:
    """The object named by ``"package.module:Class"`` (not checked: see ``_check``)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigurationError(f"ORDERS_PROJECTIONS entry {spec!r} must look like package.module:ClassName")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name is not None and module_name.startswith(e.name):
            raise ConfigurationError(f"ORDERS_PROJECTIONS entry {spec!r}: no module named {e.name!r}") from None
        raise
    obj: object = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ConfigurationError(
                f"ORDERS_PROJECTIONS entry {spec!r}: module {module_name} has no {attr!r}"
            ) from None
    return obj


def _load_entry_point(ep: EntryPoint) -> object:
    try:
        return ep.load()
    except (ImportError, AttributeError) as e:
        raise ConfigurationError(
            f"entry point {ep.name} = {ep.value} in group {ENTRY_POINT_GROUP} cannot be loaded: {e}"
        ) from None


def _check(obj: object, origin: str) -> type[Projection]:
    if not (isinstance(obj, type) and issubclass(obj, Projection) and "name" in vars(obj)):
        raise ConfigurationError(f"{origin} is not a Projection subclass with a name")
    return obj


def _where(projection: type[Projection]) -> str:
    return f"{projection.__module__}.{projection.__qualname__}"
