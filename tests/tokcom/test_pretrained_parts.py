"""--pretrained: towers and LM base weights come from a checkpoint, the connector starts fresh."""
import pytest
import torch

from tokcom.checkpoint import load_pretrained_parts, save_checkpoint
from tokcom.factory import create_taichi
from tokcom.lora import apply_lora

from conftest import small_config


def test_towers_and_lm_copied_connector_and_codec_fresh_lora_dropped(tmp_path, small_taichi):
    model, tok, cfg = small_taichi
    src = tmp_path / "src"
    torch.manual_seed(1)
    donor, _, _ = create_taichi(cfg, tokenizer=tok)
    apply_lora(donor, cfg.lora)
    with torch.no_grad():                       # make the adapters matter: non-zero B
        for n, p in donor.named_parameters():
            if "lora_B" in n:
                p.fill_(0.5)
    save_checkpoint(donor, tok, cfg, src)
    torch.manual_seed(2)
    fresh, _, _ = create_taichi(small_config(projector="mlp", projector_kwargs={}), tokenizer=tok)
    proj_before = [p.clone() for p in fresh.projector.parameters()]
    assert load_pretrained_parts(fresh, src) == ["lr_tower", "hr_tower", "llm"]
    base = donor.llm.lm.base_model.model.model.layers[0].self_attn.q_proj.base_layer.weight
    assert torch.equal(fresh.llm.lm.model.layers[0].self_attn.q_proj.weight, base)
    assert not any("lora_" in n for n, _ in fresh.named_parameters())
    for a, b in zip(fresh.lr_tower.state_dict().values(), donor.lr_tower.state_dict().values()):
        assert torch.equal(a, b)
    assert all(torch.equal(a, b) for a, b in zip(proj_before, fresh.projector.parameters()))


def test_parts_that_do_not_fit_fail_clearly(tmp_path, small_taichi):
    model, tok, cfg = small_taichi
    save_checkpoint(model, tok, cfg, tmp_path / "src")
    other = small_config()
    other.vision.lr = {**other.vision.lr, "embed_dim": 48}
    wrong, _, _ = create_taichi(other, tokenizer=tok)
    with pytest.raises(ValueError, match="pretrained part 'lr_tower'"):
        load_pretrained_parts(wrong, tmp_path / "src")
