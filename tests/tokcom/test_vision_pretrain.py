"""Stage 0v: image targets, the pretraining loop, and its place in tokcom.train."""
import copy
import csv
import importlib.util
import json

import pytest
import torch
from safetensors.torch import load_file

from tokcom.data.clevr_gen import SceneObject
from tokcom.train import main
from tokcom.vision_pretrain import (ATTRIBUTES, EASY_COLOURS, EASY_SHAPES, _easy_cell_loss,
                                    clevr_cell_targets, easy_cell_targets, easy_vqa_labels,
                                    pretrain_vision)

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


def test_easy_cell_targets_mark_the_cells_the_shape_covers():
    img = torch.full((2, 3, 96, 96), 0.95)
    img[0, :, 40:72, 8:30] = torch.tensor([0.1, 0.2, 0.9])[:, None, None]   # a blue rectangle
    img[1, :, 2:5, 90:94] = 0.0                                              # a 3x4 black dot
    t = easy_cell_targets(img, grid=6).view(2, 6, 6)
    # rows 40-71 -> cells 2-4 (16 px each), columns 8-29 -> cells 0-1
    assert t[0].nonzero().tolist() == [[r, c] for r in (2, 3, 4) for c in (0, 1)]
    assert t[1].nonzero().tolist() == [[0, 5]]        # the smallest shape keeps its cell
    assert easy_cell_targets(torch.full((1, 3, 96, 96), 0.5), 6).sum() == 0   # no shape, no cell


def test_easy_cell_loss_ignores_uncovered_cells_and_unknown_labels():
    covered = torch.tensor([[1.0, 0.0, 0.0]])
    logits = torch.zeros(1, 3, 1 + len(EASY_COLOURS) + len(EASY_SHAPES))
    logits[0, 0, 0], logits[0, 1:, 0] = 20.0, -20.0                  # covered-or-not: right
    shape = 1 + len(EASY_COLOURS)
    logits[0, 0, 1 + 2], logits[0, 0, shape + 1] = 20.0, 20.0        # colour 2, shape 1 at cell 0
    logits[0, 1:, 1:] = torch.randn(2, logits.shape[-1] - 1) * 5     # uncovered cells: anything
    low = _easy_cell_loss(logits, covered, torch.tensor([[2, 1]]))
    assert low < 1e-3
    assert _easy_cell_loss(logits, covered, torch.tensor([[3, 1]])) > 5    # wrong colour costs
    assert _easy_cell_loss(logits, covered, torch.tensor([[-100, -100]])) < 1e-3   # unknown: not scored


@pytest.mark.skipif(importlib.util.find_spec("easy_vqa") is None, reason="easy-vqa not installed")
def test_easy_cells_add_the_per_cell_term_on_easy_vqa_steps(small_taichi):
    """Same seed, same batches: the easy-VQA steps (odd) cost more with the per-cell term, the
    CLEVR-style steps (even) the same at step 0."""
    runs = []
    for cells in (False, True):
        model = copy.deepcopy(small_taichi[0])
        torch.manual_seed(0)
        runs.append(pretrain_vision(model, steps=2, batch_size=4, num_images=8, image_size=96,
                                    use_easy_vqa=True, easy_cells=cells, progress=False))
    assert runs[0][0] == pytest.approx(runs[1][0])
    assert runs[1][1] > runs[0][1] + 0.1


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


def test_easy_vqa_cells_without_stage_0v_is_refused(tmp_path, capsys):
    assert main(["--preset", "tiny", "--stages", "0", "--easy-vqa-cells",
                 "--out", str(tmp_path / "x")]) == 2
    assert "--easy-vqa-cells" in capsys.readouterr().err and not (tmp_path / "x").exists()
