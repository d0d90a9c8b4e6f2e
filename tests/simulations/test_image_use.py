"""simulations.image_use: the same questions with real, shuffled and blank images."""
import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from simulations.image_use import image_use, main
from tokcom.data.clevr_gen import FAMILIES
from tokcom.train import main as train_main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tokcom"))
from conftest import small_config  # noqa: E402


@pytest.fixture(scope="module")
def vlm(tmp_path_factory):
    root = tmp_path_factory.mktemp("vlm")
    (root / "c.json").write_text(json.dumps(small_config(max_prompt_tokens=128).to_dict()))
    out = root / "ck"
    assert train_main(["--preset", str(root / "c.json"), "--stages", "1a", "--steps", "1a=1",
                       "--out", str(out), "--mix", "clevr_gen:1", "--num-images", "8",
                       "--batch-size", "2", "--eval-examples", "2", "--no-progress"]) == 0
    return out


def test_three_conditions_on_the_same_questions(vlm, tmp_path):
    out = tmp_path / "u.csv"
    assert main(["--system", "taichi-vlm", "--checkpoint", str(vlm), "--dataset", "clevr_gen",
                 "--num-examples", "12", "--batch-size", "6", "--out", str(out)]) == 0
    every = pd.read_csv(out)
    df = every[every.family == "all"].set_index("condition")
    assert list(df.index) == ["real", "shuffled", "blank"]
    assert (df.num_examples == 12).all() and df.loc["real", "answers_changed"] == 0
    assert ((every.ci_low <= every.accuracy) & (every.accuracy <= every.ci_high)).all()
    # then per CLEVR-style question family: the same questions, split
    fam = every[every.family != "all"]
    assert set(fam.family) <= set(FAMILIES) and len(fam) == 3 * fam.family.nunique() > 0
    assert fam[fam.condition == "real"].num_examples.sum() == 12
    assert (fam[fam.condition == "real"].answers_changed == 0).all()


class _Brightness:
    """Answers "bright"/"dark" from the image it receives; gold answers follow the real image."""
    name, dataset = "fake", "fake"

    def sample(self, n, generator):
        images = torch.rand(n, 1, 1, 1, generator=generator).expand(n, 3, 4, 4).clone()
        return {"images": images, "answers": ["bright" if v > 0.5 else "dark" for v in images[:, 0, 0, 0]]}

    def transmit(self, batch):
        return batch["images"].mean((1, 2, 3)).to(torch.complex64).unsqueeze(-1)

    def receive(self, out, batch):
        return [["bright" if v > 0.5 else "dark" for v in out.y.real[0, :, 0]]]


def test_a_system_that_reads_the_image_loses_accuracy_with_the_wrong_one():
    every = image_use(_Brightness(), 200, batch_size=50)
    assert [r["family"] for r in every] == ["all"] * 3          # no families named: no split
    rows = {r["condition"]: r for r in every}
    assert rows["real"]["accuracy"] == 1.0 and rows["real"]["answers_changed"] == 0
    assert 0.3 < rows["shuffled"]["accuracy"] < 0.7 and rows["shuffled"]["answers_changed"] > 0.3
    # blank mid-grey reads as "dark" (0.5 is not > 0.5): every "bright" answer changes
    assert rows["blank"]["answers_changed"] == pytest.approx(1 - rows["blank"]["accuracy"])


class _Kinds(_Brightness):
    """As _Brightness, with a family and sub-families named per example."""

    def sample(self, n, generator):
        batch = super().sample(n, generator)
        batch["family"] = ["yes_no"] * (n - 1) + ["color"]
        batch["subfamily"] = ["yes_no.shape.plain", "yes_no.color.negated"] * ((n - 1) // 2) \
            + ["yes_no.shape.plain"] * ((n - 1) % 2) + ["color"]
        return batch


def test_sub_families_split_a_family_and_are_not_repeated():
    every = pd.DataFrame(image_use(_Kinds(), 20, batch_size=10))
    real = every[every.condition == "real"].set_index("family").num_examples
    # a sub-family equal to its family ("color") is not listed twice
    assert real.to_dict() == {"all": 20, "color": 2, "yes_no": 18,
                              "yes_no.color.negated": 8, "yes_no.shape.plain": 10}


def test_text_only_data_and_bad_sizes_are_refused(vlm, tmp_path, capsys):
    common = ["--system", "taichi-vlm", "--checkpoint", str(vlm), "--out", str(tmp_path / "x.csv")]
    assert main(common + ["--dataset", "synthetic_sentiment", "--split", "val",
                          "--num-examples", "4"]) == 2
    assert "no images" in capsys.readouterr().err
    assert main(common + ["--num-examples", "1"]) == 2
    assert not (tmp_path / "x.csv").exists()
