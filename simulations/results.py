"""The resumable results file: a CSV of finished SNR points plus a JSON sidecar.

One row per (SNR point, metric) with the columns in :data:`COLUMNS`. The JSON
sidecar (same path, ``.json``) holds the full configuration, its id, package
versions and the git commit. Rows are written point by point with an atomic
replace (temp file + ``os.replace``), sorted, so that

- a killed sweep loses at most the points that were still running,
- a re-run with the same arguments skips the finished points and continues,
- the same command gives the same CSV byte for byte, however often it was
  interrupted.

A results file written by a *different* configuration is never appended to
or overwritten: :class:`ResultsMismatch` names the keys that differ. The SNR
grid is not part of the configuration, so points can be added to a file.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["COLUMNS", "ResultStore", "ResultsMismatch", "config_id", "environment_info",
           "atomic_write_text", "write_table"]

COLUMNS = ["system", "task", "dataset", "channel", "snr_db", "metric", "value", "ci_low",
           "ci_high", "num_samples", "num_errors", "num_trials", "channel_uses_per_sample",
           "seed", "config_id"]
_SORT = ["system", "task", "dataset", "channel", "metric", "snr_db"]


class ResultsMismatch(ValueError):
    """The results file exists and belongs to another configuration (or is malformed)."""


def config_id(config: dict) -> str:
    """Short stable hash of a JSON-serialisable configuration."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def environment_info() -> dict[str, Any]:
    """Package versions and git commit, for the sidecar."""
    versions = {}
    for pkg in ("torch", "sionna-no-rt", "numpy", "scipy", "pandas", "transformers", "peft",
                "tensorflow-cpu"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5,
                               cwd=Path(__file__).resolve().parent).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", False
    return {"python": sys.version.split()[0], "packages": versions,
            "git_commit": commit or None, "git_dirty": dirty}


def write_table(df, path: Path | str) -> Path:
    """Write a results table (a ``pandas.DataFrame``) as CSV, floats to 4 decimals, atomically,
    creating the folder; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, df.to_csv(index=False, float_format="%.4f"))
    return path


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file in the same folder and ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class ResultStore:
    """A results CSV bound to one configuration.

    Args:
        path: the CSV file (created with its folder if missing).
        config: everything that determines the numbers except the SNR grid.
        extra: additional sidecar content (command line, etc.).
    """

    def __init__(self, path: str | os.PathLike, config: dict, extra: dict | None = None) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".csv":
            raise ValueError(f"results file must end in .csv, got {self.path}")
        self.sidecar = self.path.with_suffix(".json")
        self.config = config
        self.config_id = config_id(config)
        self.extra = extra or {}
        self._rows: pd.DataFrame = pd.DataFrame(columns=COLUMNS)

    # -- opening -------------------------------------------------------------
    def open(self) -> "ResultStore":
        """Check the folder is writable and any existing file is ours; load its rows."""
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ResultsMismatch(f"cannot create output folder {folder}: {e.strerror}") from None
        if not os.access(folder, os.W_OK):
            raise ResultsMismatch(f"output folder {folder} is not writable")
        if self.path.exists():
            self._load_existing()
        return self

    def _load_existing(self) -> None:
        if not self.sidecar.exists():
            raise ResultsMismatch(
                f"{self.path} exists but has no sidecar {self.sidecar.name}; it was not written "
                "by this configuration: choose another --out or remove the file")
        try:
            meta = json.loads(self.sidecar.read_text())
            old_cfg, old_id = meta["config"], meta["config_id"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ResultsMismatch(f"sidecar {self.sidecar} is unreadable ({e}); "
                                  "choose another --out") from None
        if old_id != self.config_id:
            keys = sorted(k for k in set(old_cfg) | set(self.config)
                          if old_cfg.get(k) != self.config.get(k))
            diff = ", ".join(f"{k}: {old_cfg.get(k)!r} -> {self.config.get(k)!r}" for k in keys)
            raise ResultsMismatch(
                f"{self.path} holds results of a different configuration ({diff}); "
                "use another --out, or delete the file to start over")
        try:
            df = pd.read_csv(self.path)
        except (OSError, ValueError) as e:
            raise ResultsMismatch(f"{self.path} is not a readable results CSV ({e})") from None
        missing = [c for c in COLUMNS if c not in df.columns]
        if missing:
            raise ResultsMismatch(f"{self.path} lacks columns {missing}; not a tokcom results file")
        self._rows = df[COLUMNS]

    # -- queries ------------------------------------------------------------
    @property
    def rows(self) -> pd.DataFrame:
        return self._rows.copy()

    def done_snrs(self) -> set[float]:
        """SNR points (dB) already finished in this file."""
        return {float(s) for s in self._rows["snr_db"].tolist()}

    # -- writing ------------------------------------------------------------
    def append(self, rows: list[dict]) -> None:
        """Add the rows of finished points and rewrite the file atomically."""
        if not rows:
            return
        new = pd.DataFrame(rows, columns=COLUMNS)
        df = new if self._rows.empty else pd.concat([self._rows, new], ignore_index=True)
        df = df.drop_duplicates(subset=["system", "channel", "snr_db", "metric"], keep="first")
        df = df.sort_values(_SORT, kind="mergesort").reset_index(drop=True)
        if not self.sidecar.exists():
            meta = {"config_id": self.config_id, "config": self.config, **self.extra,
                    "environment": environment_info()}
            atomic_write_text(self.sidecar, json.dumps(meta, indent=2, sort_keys=True,
                                                       default=str) + "\n")
        atomic_write_text(self.path, df.to_csv(index=False, lineterminator="\n"))
        self._rows = df
