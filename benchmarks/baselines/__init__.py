"""The two servers ours is compared with; each is a WSGI module run under gunicorn by ``benchmarks.servers``."""
