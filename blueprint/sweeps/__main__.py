"""`python -m blueprint.sweeps`: lists the studies in an Optuna store."""

import sys

from blueprint.sweeps.cli import main

sys.exit(main())
