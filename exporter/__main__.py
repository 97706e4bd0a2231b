"""``python -m exporter`` is the console script."""

from exporter.cli import main

raise SystemExit(main())
