"""Model storage: resolve a local or ``gs://`` model uri to local SavedModel directories, one per served version.

Never imports Flask or TensorFlow. ``fetch_models`` is the entry point (``fetch_model`` fetches just the latest
version); see ``app.storage.cache`` for the on-disk layout shared by concurrent workers.
"""

from app.storage.client import make_client
from app.storage.fetch import fetch_model, fetch_models
from app.storage.layout import ResolvedModel
from app.storage.upload import upload_directory

__all__ = ["ResolvedModel", "fetch_model", "fetch_models", "make_client", "upload_directory"]
