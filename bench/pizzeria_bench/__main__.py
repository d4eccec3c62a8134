"""`python -m pizzeria_bench`: the same as `pizzeria-bench`."""

import sys

from .cli import main

sys.exit(main())
