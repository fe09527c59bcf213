"""`python -m oomkit` runs the command line."""

from oomkit.quick import main

raise SystemExit(main())
