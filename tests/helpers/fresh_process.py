"""Run a Python snippet in a fresh, isolated interpreter and read back the JSON it prints last.

``python -I`` ignores PYTHONPATH and the current directory, and the environment is rebuilt from scratch, so the
snippet sees only site-packages: a model folder that loads there loads on any machine with transformers. The
snippet decides whether to ``import hf_seq2seq_vit``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def run_fresh_python(script: str, home: Path, extra_env: dict[str, str] | None = None, timeout: float = 300) -> dict:
    """Run ``script`` with ``HF_HOME`` under ``home`` and cwd ``home``; return the JSON of its last stdout line."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "HF_HOME": str(home / "hf_home"),
        "HF_HUB_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "OMP_NUM_THREADS": "1",  # the suite shares 2 cores; one thread also keeps the float arithmetic identical
        **(extra_env or {}),
    }
    result = subprocess.run([sys.executable, "-I", "-c", script], cwd=home, env=env, capture_output=True, text=True,
                            stdin=subprocess.DEVNULL,  # a "trust remote code?" prompt must fail, not hang
                            timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"fresh process failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])
