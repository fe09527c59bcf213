"""The flight recorder's parts: what the daemon samples, follows, forecasts and says.

``system``/``cgroupwatch``/``processes`` read /proc and cgroupfs in tiers (``tiers``
decides who is on the fast tier and what is worth a row); ``kmsg`` follows the kernel
log and ``counters`` catches kills that left no line; ``forecast``, ``observe`` and
``alerts`` are pure (trend, what each subject looks like, when to warn); ``notify``
delivers warnings; ``protector`` applies oom_score_adj; ``settings`` reads the config.
"""
