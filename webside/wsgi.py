"""The WSGI entry point for gunicorn: `webside.wsgi:app`."""

from webside import create_app

app = create_app()
