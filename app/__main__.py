"""``python -m app``: start the production server (gunicorn on $PORT)."""

import sys

from app.server import main

sys.exit(main())
