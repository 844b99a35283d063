"""``python -m app.batch``: run one task of a batch prediction job."""

import sys

from app.batch.run import main

sys.exit(main())
