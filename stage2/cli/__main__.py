"""``python -m stage2.cli``: the ``stage2`` console script."""

from stage2.cli import main

raise SystemExit(main())
