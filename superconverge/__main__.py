"""``python -m superconverge`` runs the command-line interface."""

from superconverge.cli import main

raise SystemExit(main())
