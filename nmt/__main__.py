"""`python -m nmt` (used by torchrun) is the `nmt` console script."""

import sys

from nmt.cli.main import main

sys.exit(main())
