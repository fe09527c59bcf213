"""Deliver warnings: the log, a hook command, a webhook, notify-send. Never blocks the loop.

Every child is started with posix_spawn (no shell, stdin from /dev/null) and
reaped later by ``reap``; one that outlives its timeout is killed. The webhook
POST runs in a child (``python -m oomkit.recorder.webhook``) so the daemon
never loads urllib/ssl (several MiB) nor waits on the network.

The hook gets the message in its environment (``OOMKIT_KIND`` = warning, still
or recovered; ``OOMKIT_SUBJECT``; ``OOMKIT_MESSAGE``; ``OOMKIT_SECONDS_LEFT``),
and ``{kind}``, ``{subject}``, ``{message}`` in its arguments are replaced.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

from oomkit.recorder.alerts import Alert
from oomkit.recorder.log import Log
from oomkit.recorder.settings import Warnings

MAX_CHILDREN = 16


def which(name: str) -> str | None:
    """The program ``name`` in $PATH (shutil.which without importing shutil)."""
    for d in os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(os.pathsep):
        candidate = os.path.join(d, name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return None


def payload(alert: Alert, host: str) -> dict[str, object]:
    """The JSON body of a webhook POST."""
    r = alert.record
    return {"source": "oomkit", "host": host, "kind": r.kind, "subject": r.subject,
            "message": r.message, "seconds_left": r.seconds_left,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(r.ts))}


class Notifier:
    """Sends alerts through every configured channel."""

    def __init__(self, settings: Warnings, log: Log) -> None:
        self.settings = settings
        self.log = log
        self.children: dict[int, tuple[float, str]] = {}  # pid -> (deadline, what)
        self.host = os.uname().nodename
        self._notify_send = which("notify-send") if settings.notify_send else None

    def _spawn(self, argv: list[str], env: dict[str, str], timeout: float, what: str) -> None:
        if len(self.children) >= MAX_CHILDREN:
            self.log.once("children", "warning", f"{what}: {MAX_CHILDREN} notification commands"
                          " still running; this one is skipped")
            return
        try:
            pid = os.posix_spawnp(argv[0], argv, env, file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)])
        except OSError as exc:
            self.log.once(f"spawn {argv[0]}", "error", f"{what}: cannot run {argv[0]}: "
                          f"{exc.strerror or exc}")
            return
        self.children[pid] = (time.monotonic() + timeout, what)

    def send(self, alert: Alert) -> None:
        """Log the alert; when it is to be delivered, run the hook, POST, notify-send."""
        r = alert.record
        level = "notice" if r.kind == "recovered" else "warning"
        self.log(level, r.message + ("" if alert.deliver else " (not delivered: rate limit)"))
        if not alert.deliver:
            return
        s = self.settings
        env = dict(os.environ)
        env.update(OOMKIT_KIND=r.kind, OOMKIT_SUBJECT=r.subject, OOMKIT_MESSAGE=r.message,
                   OOMKIT_SECONDS_LEFT="" if r.seconds_left is None else f"{r.seconds_left:.0f}")
        if s.hook:
            argv = [a.replace("{kind}", r.kind).replace("{subject}", r.subject)
                    .replace("{message}", r.message) for a in s.hook]
            self._spawn(argv, env, s.hook_timeout, "hook")
        if s.webhook:
            import json

            body = json.dumps(payload(alert, self.host))
            self._spawn([sys.executable, "-m", "oomkit.recorder.webhook", s.webhook,
                         str(s.webhook_timeout), body], env, s.webhook_timeout + 5, "webhook")
        if self._notify_send and (env.get("DBUS_SESSION_BUS_ADDRESS") or env.get("DISPLAY")
                                  or env.get("WAYLAND_DISPLAY")):
            urgency = "normal" if r.kind == "recovered" else "critical"
            self._spawn([self._notify_send, "-u", urgency, "-a", "oomkit", "oomkit", r.message],
                        env, 10.0, "notify-send")

    def reap(self) -> None:
        """Collect finished children; kill those past their timeout."""
        now = time.monotonic()
        for pid, (deadline, what) in list(self.children.items()):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                self.children.pop(pid, None)
                continue
            if done:
                self.children.pop(pid, None)
                code = os.waitstatus_to_exitcode(status)
                if code != 0:
                    self.log("warning", f"{what} exited with status {code}")
            elif now > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                self.log("warning", f"{what} (pid {pid}) took too long and was killed")
