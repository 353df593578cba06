"""``python -m sa2va_hf.cli`` = the ``sa2va-hf`` command line."""

import sys

from .main import main

sys.exit(main())
