"""Raises at import: the server must refuse to start (exit 1) and show the traceback."""

raise RuntimeError("broken-import-sentinel-7f3a")
