"""When to warn, when to say "recovered", and how often: a pure state machine per subject.

A subject (the system, a cgroup) is *in danger* when its forecast says memory
runs out within ``forecast_seconds``, or MemAvailable is under the floor. After
``confirm`` evaluations in a row in danger it goes OK -> WARNED and a warning is
raised; while it stays in danger the warning is repeated ("still") every
``repeat_after`` seconds; after ``confirm`` evaluations in a row clearly out of
danger (no forecast, or one beyond twice the threshold, and above the floor with
a margin) it goes WARNED -> OK with a "recovered" message. A subject that
disappears while WARNED (a cgroup removed) recovers with a message saying so.

Delivery is rate-limited globally: at most ``max_per_hour`` warnings are
delivered per hour; the others are still recorded. A "recovered" message is
delivered exactly when its warning was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from oomkit.models import Forecast, WarningRecord
from oomkit.units import human_kb, human_seconds


class Policy(NamedTuple):
    """The thresholds (``[daemon.warnings]``)."""

    forecast_seconds: float = 300.0
    confirm: int = 2
    repeat_after: float = 600.0
    max_per_hour: int = 20


class Observation(NamedTuple):
    """One subject at one evaluation."""

    subject: str  # "system" or a cgroup path
    label: str  # "the system", "cgroup /job"
    forecast: Forecast
    below_floor: bool = False
    near_floor: bool = False  # under the floor plus the recovery margin
    detail: str = ""  # "MemAvailable 1.2 GiB of 15.5 GiB"
    grower: str | None = None  # "hog (pid 4242) +2.1 MiB/s"


class SubjectState(NamedTuple):
    """Where one subject stands."""

    warned: bool = False
    streak: int = 0  # evaluations in a row pointing to the other state
    notified_at: float = 0.0
    delivered: bool = False  # its warning was delivered (so its recovery is, too)
    label: str = ""


class Book(NamedTuple):
    """Every subject's state and the delivery times of the last hour."""

    subjects: Mapping[str, SubjectState] = {}
    sent: tuple[float, ...] = ()


class Alert(NamedTuple):
    """A warning or recovery to record, and whether to deliver it (rate limit)."""

    record: WarningRecord
    deliver: bool






def _danger(o: Observation, p: Policy) -> bool:
    left = o.forecast.seconds_left
    return o.below_floor or (left is not None and left <= p.forecast_seconds)


def _clear(o: Observation, p: Policy) -> bool:
    left = o.forecast.seconds_left
    return not o.near_floor and (left is None or left > 2 * p.forecast_seconds)


def warning_text(o: Observation, kind: str) -> str:
    """The one-line message of a warning ("warning"/"still") or a recovery."""
    f = o.forecast
    if kind == "recovered":
        return f"recovered: {o.label} is no longer running out of memory ({o.detail})"
    prefix = "still: " if kind == "still" else ""
    grower = f"; biggest grower: {o.grower}" if o.grower else ""
    if f.seconds_left is not None and (not o.below_floor or f.seconds_left > 0):
        rate = f", growing {human_kb(f.rate_kb_s)}/s" if f.rate_kb_s > 0 else ""
        when = "now" if f.seconds_left <= 0 else f"in ~{human_seconds(f.seconds_left)}"
        return f"{prefix}{o.label} will run out of memory {when} ({o.detail}{rate}{grower})"
    return f"{prefix}{o.label} is low on memory ({o.detail}{grower})"


def evaluate(book: Book, observations: Sequence[Observation], now: float, policy: Policy,
             wall: float | None = None) -> tuple[Book, list[Alert]]:
    """The next book and the alerts this evaluation raises.

    ``now`` is a monotonic clock (durations); ``wall`` (Unix time, default ``now``)
    dates the records.
    """
    stamp = now if wall is None else wall
    states = dict(book.subjects)
    sent = [t for t in book.sent if now - t < 3600]
    alerts: list[Alert] = []

    def raise_(subject: str, kind: str, o: Observation | None, text: str, state: SubjectState
               ) -> SubjectState:
        if kind == "recovered":
            deliver = state.delivered
        else:
            deliver = len(sent) < policy.max_per_hour
            if deliver:
                sent.append(now)
        left = o.forecast.seconds_left if o is not None and kind != "recovered" else None
        alerts.append(Alert(WarningRecord(stamp, subject, kind, left, text), deliver))
        return state._replace(delivered=deliver if kind != "recovered" else False)

    seen = set()
    for o in observations:
        seen.add(o.subject)
        s = states.get(o.subject, SubjectState(label=o.label))
        if not s.warned:
            if _danger(o, policy):
                s = s._replace(streak=s.streak + 1)
                if s.streak >= policy.confirm:  # OK -> WARNED
                    s = SubjectState(True, 0, now, False, o.label)
                    s = raise_(o.subject, "warning", o, warning_text(o, "warning"), s)
            else:
                s = s._replace(streak=0)
        elif _clear(o, policy):
            s = s._replace(streak=s.streak + 1)
            if s.streak >= policy.confirm:  # WARNED -> OK
                s = raise_(o.subject, "recovered", o, warning_text(o, "recovered"), s)
                s = SubjectState(label=o.label)
        else:
            s = s._replace(streak=0)
            if _danger(o, policy) and now - s.notified_at >= policy.repeat_after:  # WARNED -> WARNED
                s = s._replace(notified_at=now)
                s = raise_(o.subject, "still", o, warning_text(o, "still"), s)
        states[o.subject] = s
    for subject in list(states):
        if subject in seen:
            continue
        s = states.pop(subject)
        if s.warned:  # WARNED -> gone
            raise_(subject, "recovered", None, f"recovered: {s.label} no longer exists", s)
    return Book(states, tuple(sent)), alerts
