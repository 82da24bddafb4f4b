"""`python -m services.bridge`: run one bridge replica in the foreground."""

import sys

from services.bridge.service import main

sys.exit(main())
