"""``python -m grainseg_core`` runs the command-line interface."""

from grainseg_core.cli import main

raise SystemExit(main())
