"""Stage 0v: image targets, the pretraining loop, and its place in tokcom.train."""
import copy
import csv
import json

import pytest
import torch
from safetensors.torch import load_file

from tokcom.data.clevr_gen import SceneObject
from tokcom.train import main
from tokcom.vision_pretrain import (ATTRIBUTES, EASY_COLOURS, EASY_SHAPES, clevr_cell_targets,
                                    easy_vqa_labels, pretrain_vision)

from conftest import small_config


def test_cell_targets_mark_the_centre_cell_with_the_attributes():
    objs = [SceneObject("cube", "red", "small", "metal", "striped", x=0.1, y=0.95, r=0.05),
            SceneObject("sphere", "blue", "large", "rubber", "plain", x=0.55, y=0.2, r=0.1)]
    t = clevr_cell_targets(objs, grid=6)
    assert t.shape == (36, len(ATTRIBUTES))
    cube = t[5 * 6 + 0]                      # row y*6 = 5, column x*6 = 0
    assert {ATTRIBUTES[i] for i in cube.nonzero().flatten().tolist()} == {
        "object", "cube", "red", "small", "metal", "striped"}
    sphere = t[1 * 6 + 3]
    assert {ATTRIBUTES[i] for i in sphere.nonzero().flatten().tolist()} == {
        "object", "sphere", "blue", "large", "rubber", "plain"}
    assert t.sum() == 12                     # nothing anywhere else


def test_easy_vqa_labels_from_the_datasets_own_answers():
    items = [("what color is the shape?", "teal", 7), ("what shape is this?", "circle", 7),
             ("what is the red shape?", "triangle", 9), ("is there a blue shape?", "no", 11)]
    lab = easy_vqa_labels(items)
    assert lab[7] == (EASY_COLOURS.index("teal"), EASY_SHAPES.index("circle"))
    assert lab[9] == (EASY_COLOURS.index("red"), EASY_SHAPES.index("triangle"))
    assert 11 not in lab                     # a yes/no question does not tell


def test_pretraining_learns_and_touches_only_the_front_end(small_taichi):
    model = copy.deepcopy(small_taichi[0])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(0)
    losses = pretrain_vision(model, steps=40, batch_size=8, lr=3e-3, num_images=64,
                             use_easy_vqa=False, progress=False)
    assert sum(losses[-8:]) / 8 < 0.7 * sum(losses[:4]) / 4
    after = model.state_dict()
    moved = {k.split(".")[0] for k in after if not torch.equal(after[k], before[k])}
    assert moved == {"lr_tower", "hr_tower", "ban"}
    with pytest.raises(ValueError, match="steps"):
        pretrain_vision(model, steps=0)


ARGS = ["--mix", "clevr_gen:1,synthetic_sentiment:1", "--num-images", "40", "--num-sentences", "40",
        "--batch-size", "4", "--eval-examples", "4", "--no-progress"]


@pytest.fixture(scope="module")
def cfg_path(tmp_path_factory):
    p = tmp_path_factory.mktemp("cfg") / "small.json"
    p.write_text(json.dumps(small_config(max_prompt_tokens=128).to_dict()))
    return str(p)


def _towers(path):
    return {k: v for k, v in load_file(str(path / "model.safetensors")).items()
            if k.startswith(("lr_tower.", "hr_tower."))}


def test_stage_0v_then_0_keeps_the_pretrained_towers_and_resumes(tmp_path, cfg_path):
    only = tmp_path / "only"
    assert main(["--preset", cfg_path, "--out", str(only), "--stages", "0v", "--steps", "0v=3",
                 *ARGS]) == 0
    both = tmp_path / "both"
    common = ["--preset", cfg_path, "--out", str(both), "--stages", "0v,0", "--save-every", "2", *ARGS]
    assert main(common + ["--steps", "0v=3,0=3"]) == 0
    # default --vision-lr-scale after 0v is 0: stage 0 leaves the pretrained towers as they are
    a, b = _towers(only), _towers(both)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    torch.manual_seed(0)
    from tokcom.factory import create_taichi
    init = create_taichi(cfg_path)[0].state_dict()
    assert any(not torch.equal(a[k], init[k]) for k in a)       # 0v did train them
    assert json.loads((both / "meta.json").read_text())["vision_lr_scale"] == 0.0
    # killed after stage 0 saved a state: the rerun continues stage 0 and does not redo 0v
    (both / "model.safetensors").unlink()
    assert main(common + ["--steps", "0v=3,0=5"]) == 0
    with open(both / "train_log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows if r["stage"] == "0v"] == [0, 1, 2]
    assert [int(r["step"]) for r in rows if r["stage"] == "0"] == [0, 1, 2, 3, 4]
    assert all(torch.equal(a[k], v) for k, v in _towers(both).items())


def test_ban_after_0v_is_frozen_by_default_and_trains_when_asked(tmp_path, cfg_path):
    def ban(path):
        return {k: v for k, v in load_file(str(path / "model.safetensors")).items()
                if k.startswith("ban.")}
    only, kept, trained = tmp_path / "only", tmp_path / "kept", tmp_path / "trained"
    assert main(["--preset", cfg_path, "--out", str(only), "--stages", "0v", "--steps", "0v=2",
                 *ARGS]) == 0
    # default --ban-lr-scale with 0v in the stages is 0: stage 0 keeps the pretrained BAN
    assert main(["--preset", cfg_path, "--out", str(kept), "--stages", "0v,0", "--steps", "0v=2,0=2",
                 *ARGS]) == 0
    a, b = ban(only), ban(kept)
    assert a and a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((kept / "meta.json").read_text())["ban_lr_scale"] == 0.0
    assert main(["--preset", cfg_path, "--out", str(trained), "--stages", "0v,0", "--steps", "0v=2,0=2",
                 "--ban-lr-scale", "1", *ARGS]) == 0
    c = ban(trained)
    assert any(not torch.equal(a[k], c[k]) for k in a)
    assert "ban_lr_scale" not in json.loads((trained / "meta.json").read_text())
    assert main(["--preset", cfg_path, "--out", str(tmp_path / "x"), "--stages", "0",
                 "--ban-lr-scale", "-1", *ARGS]) == 2


def test_stage_0v_refuses_a_model_without_towers(tmp_path, capsys):
    assert main(["--preset", "deepsc", "--out", str(tmp_path / "d"), "--stages", "0v",
                 "--steps", "0v=1", *ARGS, "--mix", "synthetic_sentiment:1"]) == 2
    assert "0v" in capsys.readouterr().err
