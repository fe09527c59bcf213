"""`python -m oomkit` runs the command line."""

from oomkit.cli import main

raise SystemExit(main())
