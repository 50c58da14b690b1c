"""The web console: a single-page app, served at `/`, that uses only the public API."""
