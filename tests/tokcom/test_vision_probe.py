"""tokcom.vision_probe: the three-colour probe data, front ends and CLI errors."""
import torch

from tokcom.factory import create_taichi
from tokcom.vision_probe import BACKGROUND, COLOURS, _examples, _front_end, main


def test_probe_images_hold_one_square_of_the_answer_colour():
    for e in _examples(12, torch.Generator().manual_seed(0)):
        off = (e.image != BACKGROUND).any(0)
        assert int(off.sum()) == 20 * 20
        ys, xs = torch.nonzero(off, as_tuple=True)
        assert torch.equal(e.image[:, ys[0], xs[0]], torch.tensor(COLOURS[e.answer]))


def test_front_ends_give_the_llm_36_tokens_and_the_oracle_is_zero_off_the_square():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model, _tok, _cfg = create_taichi("tiny")
    images = torch.stack([e.image for e in _examples(2, g)])
    for kind in ("conv", "oracle"):
        _front_end(model, kind, g)
        v = model.visual_tokens(images)
        assert v.shape == (2, 36, model.llm.hidden_size)
    blank = torch.full((1, 3, 96, 96), BACKGROUND)
    assert model.visual_tokens(blank).abs().max() < 1e-5      # oracle: background carries nothing


def test_bad_arguments_exit_2(tmp_path, capsys):
    assert main(["--front-ends", "nope", "--out", str(tmp_path / "p.csv")]) == 2
    assert "unknown front ends" in capsys.readouterr().err
    assert main(["--steps", "0", "--out", str(tmp_path / "p.csv")]) == 2
    assert not (tmp_path / "p.csv").exists()
