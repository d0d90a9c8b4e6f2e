"""The TaiChi link through the sweep CLI with the shipped checkpoint (tiny budget)."""
import pandas as pd
import pytest

from simulations.snr_sweep import main
from simulations.systems.taichi import SHIPPED_CHECKPOINT

pytestmark = pytest.mark.skipif(not (SHIPPED_CHECKPOINT / "model.safetensors").exists(),
                                reason="no shipped checkpoint")


def test_taichi_sweep_over_rayleigh(tmp_path):
    out = tmp_path / "t.csv"
    assert main(["--system", "taichi", "--channel", "rayleigh", "--snr", "-10", "30",
                 "--batch-size", "32", "--max-samples", "64", "--no-progress", "--no-plot",
                 "--num-examples", "200", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert (df.metric == "accuracy").all() and (df.system == "taichi").all()
    assert (df.channel_uses_per_sample == 84 * 4).all()
    acc = df.set_index("snr_db").value
    assert acc[30.0] >= acc[-10.0]
    assert all(df.ci_low <= df.value) and all(df.value <= df.ci_high)
