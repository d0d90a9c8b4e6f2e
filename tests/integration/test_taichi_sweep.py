"""The TaiChi link through the sweep CLI with the shipped checkpoint (tiny budget)."""
import pandas as pd
import pytest

from simulations.snr_sweep import main
from simulations.systems.taichi import SHIPPED_CHECKPOINT

pytestmark = pytest.mark.skipif(not (SHIPPED_CHECKPOINT / "model.safetensors").exists(),
                                reason="no shipped checkpoint")


def test_taichi_sweep_over_rayleigh(tmp_path):
    out = tmp_path / "t.csv"
    # easy-VQA: the shipped model's accuracy rises with SNR (0.60 at -5 dB, 0.85 from 15 dB, README)
    assert main(["--system", "taichi", "--channel", "rayleigh", "--snr", "-20", "30",
                 "--dataset", "easy_vqa", "--batch-size", "100", "--max-samples", "200",
                 "--no-progress", "--no-plot", "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert (df.metric == "accuracy").all() and (df.system == "taichi").all()
    assert (df.channel_uses_per_sample == 84 * 4).all()
    acc = df.set_index("snr_db").value
    assert acc[30.0] > acc[-20.0] + 0.1 and acc[30.0] > 0.55
    assert all(df.ci_low <= df.value) and all(df.value <= df.ci_high)


def test_shipped_checkpoint_answers_depend_on_the_image(tmp_path):
    """The shipped model's answers must change with another question's image or a blank one,
    and the right image must beat both (v0 changed none of its answers; v1's right image was
    not measurably better than another one; README, "Does the model read the image?")."""
    from simulations import image_use
    out = tmp_path / "iu.csv"
    assert image_use.main(["--system", "taichi", "--dataset", "easy_vqa", "--num-examples", "128",
                           "--out", str(out)]) == 0
    df = pd.read_csv(out)
    df = df[df.family == "all"].set_index("condition")
    assert df.loc["shuffled", "answers_changed"] >= 0.05
    assert df.loc["blank", "answers_changed"] >= 0.2
    assert df.loc["real", "accuracy"] > df.loc["blank", "accuracy"] + 0.05
    assert df.loc["real", "accuracy"] > df.loc["shuffled", "accuracy"] + 0.05


def test_shipped_checkpoint_is_the_default_recipe():
    """`python -m tokcom.train --preset tiny --seed 0` names the shipped checkpoint's recipe: if the
    defaults change, the checkpoint (and every figure of it) has to be retrained (README)."""
    import json

    from tokcom.train import DEFAULT_MIX, DEFAULT_ZERO_SCALE_PARTS, DEFAULT_STAGE_MIX, DEFAULT_STAGES, _lrs, _per_stage, _steps, parse_mix
    meta = json.loads((SHIPPED_CHECKPOINT / "meta.json").read_text())
    stages = DEFAULT_STAGES.split(",")
    assert meta["stages"] == stages and meta["seed"] == 0 and meta["preset"] == "tiny"
    assert meta["steps"] == {s: _steps(None, stages)[s] for s in stages}
    assert meta["lr"] == {s: _per_stage(_lrs(None), s) for s in stages}
    # meta.json files written before the option existed were all trained the zero-lr way
    assert meta.get("zero_scale_parts", "zero-lr") == DEFAULT_ZERO_SCALE_PARTS
    assert [tuple(x) for x in meta["mix"]] == parse_mix(DEFAULT_MIX)
    assert {k: [tuple(x) for x in v] for k, v in meta["stage_mix"].items()} == {
        k: parse_mix(v) for k, v in DEFAULT_STAGE_MIX.items() if k in stages}
    assert meta["train_minutes"] <= 45
    # the codec of the preset (the shipped checkpoint codes its tokens jointly) is the one it holds
    from tokcom.config import load_config
    preset_ctx = load_config("tiny").codec_context_layers
    assert meta.get("codec_context_layers", 0) == preset_ctx
    assert load_config(SHIPPED_CHECKPOINT / "config.json").codec_context_layers == preset_ctx
