"""OomEvent <-> JSON, lossless, so a stored kill comes back as the event `why` parsed. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from oomkit.models import (
    EventKind,
    EventTime,
    Killer,
    MemcgCounters,
    OomEvent,
    SlurmStep,
    SourceRef,
    TaskRow,
    Trigger,
    Victim,
)

# Nested record fields of OomEvent and the type each holds.
_ONE: dict[str, type] = {
    "time": EventTime, "source": SourceRef, "victim": Victim, "trigger": Trigger,
    "memory": MemcgCounters, "swap": MemcgCounters, "memsw": MemcgCounters,
    "kmem": MemcgCounters, "reaped": Victim, "slurm": SlurmStep,
}
_MANY: dict[str, type] = {"tasks": TaskRow, "extra_victims": Victim, "also_seen_in": SourceRef}
_STRINGS = ("missing", "notes", "units")


def _plain(obj: Any) -> Any:
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, (Killer, EventKind)):
        return obj.value
    if isinstance(obj, datetime):
        return obj.isoformat()
    if hasattr(obj, "_asdict"):  # a record (typed NamedTuple)
        return {k: _plain(v) for k, v in obj._asdict().items()}
    return [_plain(x) for x in obj]  # a tuple or list of them


def event_to_json(event: OomEvent) -> str:
    """Compact JSON of every field."""
    import json

    return json.dumps(_plain(event), separators=(",", ":"), ensure_ascii=False)


def _names(cls: Any) -> set[str]:
    return set(cls._fields)


def _build(cls: type, data: Any) -> Any:
    if isinstance(data, list):  # a NamedTuple stored as its values
        return cls(*data)
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    names = _names(cls)
    kwargs = {k: v for k, v in data.items() if k in names}
    if cls is EventTime and kwargs.get("wall") is not None:
        kwargs["wall"] = datetime.fromisoformat(kwargs["wall"])
    return cls(**kwargs)


def event_from_json(text: str) -> OomEvent:
    """The event back; unknown keys (from a newer oomkit) are ignored. ValueError if malformed."""
    import json

    try:
        return _event(json.loads(text))
    except (TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"stored event cannot be read: {exc}") from exc


def _event(data: Any) -> OomEvent:
    if not isinstance(data, dict):
        raise ValueError("stored event is not an object")
    kwargs: dict[str, Any] = {}
    names = set(OomEvent._fields)
    for key, value in data.items():
        if key not in names:
            continue
        if key == "killer":
            kwargs[key] = Killer(value)
        elif key == "kind":
            kwargs[key] = EventKind(value)
        elif key in _ONE:
            kwargs[key] = None if value is None else _build(_ONE[key], value)
        elif key in _MANY:
            kwargs[key] = tuple(_build(_MANY[key], v) for v in value)
        elif key in _STRINGS:
            kwargs[key] = tuple(value)
        elif key == "slab_caches":  # stored as [name, kB] pairs
            kwargs[key] = tuple((str(n), int(kb)) for n, kb in value)
        elif key == "free_areas":  # stored as [zone, [count of order 0, 1, ...]] pairs
            kwargs[key] = tuple((str(z), tuple(int(n) for n in counts)) for z, counts in value)
        else:
            kwargs[key] = value
    return OomEvent(**kwargs)
