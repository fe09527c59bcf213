"""``python -m oomkit.supervise``: see ``oomkit.supervise.host``."""

from oomkit.supervise.host import main

raise SystemExit(main())
