"""The web dashboard served at /ui (docs/dashboard.md): server-rendered pages, no scripts.

The gateway mounts `pages.PAGES` with each page's scope (gateway/app.py), so the auth edge
refuses a page exactly as it refuses an API route; a browser's credential is the session
cookie (`session.py`), turned into a principal by the same hook that reads bearer keys."""
