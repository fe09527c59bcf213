"""Job supervision: memory-limited, OOM-aware restarts (issue 5, docs/supervise.md).

Layers, one way only:

* pure: ``states`` (the enum and its allowed transitions), ``backoff`` (delays),
  ``classify`` (why a process ended), ``decide`` (what to do next), ``units``;
* ports and their real implementations: ``control`` (spawn, signal, reap, cgroups),
  ``evidence`` (kernel and killer logs), ``logs`` (output with rotation), ``clock``;
* orchestration: ``job`` (the one place that changes state), ``manager`` (N programs,
  one poll loop), ``ctl_server`` / ``ctl_client`` (the unix socket), ``adopt`` (what a
  dead supervisor left behind);
* conversion: ``import_supervisor`` (supervisord.conf to ``[programs.NAME]``).
"""
