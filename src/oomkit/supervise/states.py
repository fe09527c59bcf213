"""The job state machine's states and its allowed transitions, with their edge labels.

Modelled on Supervisor's ``process.py`` (``ProcessStates``, ``_assertInState`` and
``change_state``), without UNKNOWN. ``ALLOWED[to]`` lists the states a job may be in
before entering ``to``; ``check()`` is what ``Job.change_state`` calls. The labels
are the ones drawn in docs/supervise.md.
"""

from __future__ import annotations

from collections.abc import Mapping

from oomkit.errors import OomkitError
from oomkit.models import JobState

__all__ = ["ALLOWED", "EDGES", "TERMINAL", "InvalidTransition", "JobState", "check"]

S = JobState

# (from, to) -> the event that takes that edge.
EDGES: Mapping[tuple[JobState, JobState], str] = {
    (S.STOPPED, S.STARTING): "start",
    (S.EXITED, S.STARTING): "start",
    (S.FATAL, S.STARTING): "start",
    (S.BACKOFF, S.STARTING): "backoff expired / start",
    (S.STARTING, S.RUNNING): "up for startsecs",
    (S.STARTING, S.BACKOFF): "exited before startsecs, or a transient spawn error",
    (S.STARTING, S.FATAL): "bad command, or startretries exhausted",
    (S.STARTING, S.STOPPING): "stop",
    (S.RUNNING, S.STOPPING): "stop",
    (S.RUNNING, S.EXITED): "exited",
    (S.EXITED, S.BACKOFF): "policy restarts it",
    (S.EXITED, S.FATAL): "OOM kills in a row or max_restarts reached",
    (S.STOPPING, S.STOPPED): "exited after the stop signal (or SIGKILL)",
    (S.BACKOFF, S.STOPPED): "stop",
}

ALLOWED: Mapping[JobState, frozenset[JobState]] = {
    to: frozenset(f for (f, t) in EDGES if t is to) for to in JobState
}

# States with no process and no timer: nothing happens until someone asks.
TERMINAL = frozenset({S.STOPPED, S.EXITED, S.FATAL})


class InvalidTransition(OomkitError):
    """A bug: some code tried an edge that is not in the diagram."""


def check(frm: JobState, to: JobState) -> str:
    """The label of edge ``frm -> to``; raises InvalidTransition if there is none."""
    label = EDGES.get((frm, to))
    if label is None:
        allowed = ", ".join(sorted(s.value for s in ALLOWED[to])) or "nothing"
        raise InvalidTransition(f"{frm.value} -> {to.value} is not allowed (from: {allowed})")
    return label
