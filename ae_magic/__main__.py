"""``python -m ae_magic`` is the ``ae-magic`` command."""

import sys

from .cli import main

sys.exit(main())
