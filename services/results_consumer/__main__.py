"""`python -m services.results_consumer`: run the results consumer in the foreground."""

import sys

from services.results_consumer.service import main

sys.exit(main())
