"""The front door alone: ``app.web.front`` vs gunicorn's thread worker vs a2wsgi, around one do-nothing WSGI app."""
