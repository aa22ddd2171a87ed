"""Test helpers (not tests): checkpoints written through the export contract (``checkpoints``), a local Hub server
speaking the huggingface_hub HTTP API (``hub_server``), and a fresh Python process without the package
(``fresh_process``). Import them as ``from helpers.checkpoints import ...`` (``tests/`` is on pytest's path)."""
