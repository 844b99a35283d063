"""Model storage: resolve a local or ``gs://`` model uri to a local SavedModel directory.

Never imports Flask or TensorFlow. ``fetch_model`` is the entry point; see ``app.storage.cache`` for the
on-disk layout shared by concurrent workers.
"""

from app.storage.client import make_client
from app.storage.fetch import fetch_model
from app.storage.layout import ResolvedModel
from app.storage.upload import upload_directory

__all__ = ["ResolvedModel", "fetch_model", "make_client", "upload_directory"]
