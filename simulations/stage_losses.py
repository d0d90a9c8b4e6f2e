"""Mean training loss of one stage of a ``tokcom.train`` log, per dataset and per block of steps.

``python -m simulations.stage_losses runs/x/train_log.csv --stage 0.yesno --every 200`` prints,
for each dataset the stage drew batches from, its mean loss per 200 steps; ``--last 500`` instead
the mean over the stage's last 500 steps (README "The yes/no binding: mixing, learning rate and the
initial draw" reads the committed logs in ``results/lm/`` this way).
"""
from __future__ import annotations

import argparse
import sys

import pandas as pd

__all__ = ["main", "stage_losses"]


def stage_losses(log: str, stage: str, every: int = 200, last: int | None = None) -> pd.DataFrame:
    """Rows: datasets; columns: the first step of each block (or ``last``); values: mean loss."""
    d = pd.read_csv(log, dtype={"stage": str})   # a log of stage 2 alone reads as numbers
    missing = {"stage", "step", "loss", "dataset"} - set(d.columns)
    if missing:
        raise ValueError(f"{log} is not a tokcom.train log (no column {sorted(missing)})")
    s = d[d.stage == stage]
    if s.empty:
        raise ValueError(f"{log} has no stage {stage!r} (stages: {', '.join(d.stage.unique())})")
    if last is not None:
        s = s[s.step > s.step.max() - last]
        return s.groupby("dataset").loss.mean().round(3).to_frame(f"last {last}")
    return s.groupby(["dataset", s.step // every * every]).loss.mean().round(3).unstack()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("logs", nargs="+", help="train_log.csv files")
    p.add_argument("--stage", required=True, help="stage label, e.g. 0, 0.yesno")
    p.add_argument("--every", type=int, default=200, help="steps per block (default 200)")
    p.add_argument("--last", type=int, default=None, help="only the mean over the stage's last N steps")
    ns = p.parse_args(argv)
    if ns.every < 1 or (ns.last is not None and ns.last < 1):
        p.error("--every and --last are at least 1 step")
    try:
        for log in ns.logs:
            print(f"{log} stage {ns.stage}")
            print(stage_losses(log, ns.stage, ns.every, ns.last).to_string())
    except (OSError, ValueError) as e:
        print(f"stage_losses: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
