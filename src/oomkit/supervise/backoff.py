"""Restart delays: exponential, capped, with jitter from an injected random sample. Pure.

Supervisor's delay grows by a fixed +1 s per failed start and cannot be configured
(Supervisor issues #487, #323; PRs #509, #659). Here the n-th restart in a row waits
``initial * factor**(n-1)``, capped at ``maximum``; ``jitter`` removes a random
fraction so that programs that died together do not restart in lockstep ("full/equal
jitter", AWS Architecture Blog "Exponential Backoff And Jitter"). The count resets
when the job stayed up ``reset_after`` seconds. OOM kills may use their own policy.
"""

from __future__ import annotations

import re

from oomkit.models import BackoffPolicy
from oomkit.supervise.units import parse_duration

__all__ = ["BackoffPolicy", "delay", "parse_backoff", "should_reset"]


def delay(policy: BackoffPolicy, n: int, u: float) -> float:
    """Seconds to wait before restart number ``n`` (1-based); ``u`` in [0, 1) is the jitter draw."""
    if n <= 0:
        return 0.0
    try:
        base = policy.initial_s * policy.factor ** (n - 1)
    except OverflowError:
        base = policy.maximum_s
    base = min(base, policy.maximum_s)
    jitter = min(max(policy.jitter, 0.0), 1.0)
    return base * (1.0 - jitter * min(max(u, 0.0), 1.0))


def should_reset(policy: BackoffPolicy, uptime_s: float) -> bool:
    """Whether a run this long counts as healthy: the next delay starts from ``initial`` again."""
    return uptime_s >= policy.reset_after_s


_RANGE = re.compile(r"^\s*(?P<lo>[^.\s][^\s]*?)\s*\.\.\s*(?P<hi>\S+)\s*$")


def parse_backoff(text: str, base: BackoffPolicy | None = None) -> BackoffPolicy:
    """``"1s..5m"`` (initial..maximum) or ``"2s"`` (initial only) on top of ``base``.

    Raises ValueError with a message that shows the expected form.
    """

    base = base or BackoffPolicy()
    m = _RANGE.match(text)
    if m:
        lo, hi = parse_duration(m.group("lo")), parse_duration(m.group("hi"))
        if hi < lo:
            raise ValueError(f"backoff {text!r}: the maximum is below the initial delay")
        return base._replace(initial_s=lo, maximum_s=hi)
    lo = parse_duration(text)
    return base._replace(initial_s=lo, maximum_s=max(lo, base.maximum_s))
