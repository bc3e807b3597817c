"""``python -m mipro_core``: the same as the ``mipro`` command."""

from .cli import main

raise SystemExit(main())
