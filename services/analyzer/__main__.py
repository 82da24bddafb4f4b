"""`python -m services.analyzer`: run one analysis worker in the foreground."""

import sys

from services.analyzer.service import main

sys.exit(main())
