"""The two errors of the export package; their messages say what went wrong and what to do."""

from __future__ import annotations

__all__ = ["ExportError", "HubExportError"]


class ExportError(ValueError):
    """A checkpoint or exported folder that cannot be exported or loaded; the message says what to do."""


class HubExportError(RuntimeError):
    """Pushing an exported folder to the Hub failed (network, token, repo name)."""
