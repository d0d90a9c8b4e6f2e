"""TaiChi end to end: shapes, split parity, no leakage, gradients, checkpoints, caching."""
import copy

import pytest
import torch

import channels
from simulations.systems.taichi import TaiChiSystem
from tokcom.channel_coding import IdentityDecoder, IdentityEncoder
from tokcom.checkpoint import load_checkpoint, save_checkpoint
from tokcom.collate import collate
from tokcom.data import Example
from tokcom.lora import apply_lora
from tokcom.stages import set_trainable

G = lambda s: torch.Generator().manual_seed(s)  # noqa: E731


def _examples(n=3, task="vqa", seed=0):
    g = G(seed)
    qs = ["what color is the small cube", "how many red spheres are there", "is there a striped object"]
    ans = ["red", "2", "yes"]
    if task == "classify":
        return [Example(None, "the movie was not good", "negative", "classify") for _ in range(n)]
    return [Example(torch.rand(3, 96, 96, generator=g), qs[i % 3], ans[i % 3], "vqa") for i in range(n)]


def _batch(model, tok, cfg, task="vqa", seed=0):
    return collate(_examples(3, task, seed), tok, num_image_tokens=model.num_visual_tokens,
                   max_prompt_tokens=cfg.max_prompt_tokens, max_answer_tokens=cfg.max_answer_tokens,
                   short=True)


def test_shapes_and_unit_power(small_taichi):
    model, tok, cfg = small_taichi
    b = _batch(model, tok, cfg)
    assert model.num_visual_tokens == 36
    assert b["prompt_ids"].shape == (3, cfg.max_prompt_tokens)
    vis = model.visual_tokens(b["images"])
    assert vis.shape == (3, 36, model.llm.hidden_size)
    s = model.transmit(b["prompt_ids"], b["images"])
    assert s.shape == (3, cfg.max_prompt_tokens * cfg.symbols_per_token) and s.dtype == torch.complex64
    assert torch.allclose(s.abs().square().mean(-1), torch.ones(3), atol=1e-5)


def test_text_only_task_has_no_image_tokens(small_taichi):
    model, tok, cfg = small_taichi
    b = _batch(model, tok, cfg, task="classify")
    assert b["images"] is None and not (b["prompt_ids"] == model.image_token_id).any()
    assert model.transmit(b["prompt_ids"], None).shape[1] == cfg.max_prompt_tokens * cfg.symbols_per_token


def test_text_loss_is_the_lm_s_own_causal_loss(small_taichi):
    """The ``text`` task (LM pretraining on unlabelled text) runs every layer as a plain causal
    LM: its loss equals the Hugging Face model's own on the same right-padded sequences."""
    model, tok, cfg = small_taichi
    texts = ["great and excellent .", "never dull ; always charming . what a film , so good !"]
    b = collate([Example(None, None, t, "text") for t in texts], tok, num_image_tokens=0,
                max_prompt_tokens=cfg.max_prompt_tokens, max_answer_tokens=cfg.answer_tokens("text"),
                short=True)
    ids = b["text_ids"]
    assert set(b) == {"text_ids", "task"} and ids[0, 0] == tok.bos_token_id
    assert (ids[0] == -100).any() and ids[1, -1] == tok.eos_token_id     # right-padded, eos kept
    m = copy.deepcopy(model).double()
    ours = m.text_loss(ids)
    att = (ids != -100).long()
    ref = m.llm.lm(input_ids=ids.clamp_min(0), attention_mask=att, labels=ids).loss
    assert torch.allclose(ours, ref, atol=1e-9)


def test_split_equals_unsplit_over_error_free_channel(small_taichi):
    model, tok, cfg = small_taichi
    m = copy.deepcopy(model).double()
    d = m.llm.hidden_size
    m.channel_encoder, m.channel_decoder = IdentityEncoder(d), IdentityDecoder(d)
    b = _batch(m, tok, cfg)
    imgs = b["images"].double()
    out = channels.get("none")(m.transmit(b["prompt_ids"], imgs), 0.0)
    z_hat = m.receive_states(out)
    feed = b["answer_ids"][:, :-1].clamp_min(0)
    split = m.llm.decode(z_hat, feed)
    unsplit = m.llm.unsplit_logits(m.prompt_embeds(b["prompt_ids"], imgs), feed)
    assert torch.allclose(split, unsplit, atol=1e-9)


def test_receiver_uses_only_what_crossed_the_channel(small_taichi):
    model, tok, cfg = small_taichi
    m = copy.deepcopy(model)
    data = _examples(3)
    system = TaiChiSystem(m, tok, cfg, data, dataset_name="fixture")
    batch = _batch(m, tok, cfg)
    out = channels.get("rayleigh")(system.transmit(batch).unsqueeze(0), 10.0, generator=G(1))
    before = system.receive(out, batch)
    # garbage in every transmitter-side input and transmitter-only module
    garbage = {"images": torch.rand_like(batch["images"]),
               "prompt_ids": torch.randint_like(batch["prompt_ids"], 0, 50),
               "answer_ids": torch.zeros_like(batch["answer_ids"]), "answers": ["x"] * 3}
    with torch.no_grad():
        for part in (m.lr_tower, m.hr_tower, m.ban, m.projector, m.channel_encoder):
            for p in part.parameters():
                p.normal_()
    assert system.receive(out, garbage) == before
    assert system.receive(out, None) == before


def test_trainable_parts_get_gradients_through_rayleigh_and_frozen_none(small_taichi):
    model, tok, cfg = small_taichi
    m = copy.deepcopy(model)
    apply_lora(m, cfg.lora)
    set_trainable(m, "2")
    b = _batch(m, tok, cfg)
    loss = m.loss(b["prompt_ids"], b["images"], b["answer_ids"], channel=channels.get("rayleigh"),
                  snr_db=torch.tensor([0.0, 5.0, 10.0]), generator=G(2))
    loss.backward()
    trainable = {n for n, p in m.named_parameters() if p.requires_grad}
    assert any("lora_" in n for n in trainable) and any(n.startswith("ban.") for n in trainable)
    assert any(n.startswith("channel_encoder.") for n in trainable)
    for n, p in m.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, n
            # LoRA starts with B = 0, so dL/dA = 0 at the first step by construction
            assert "lora_A" in n or p.grad.abs().sum() > 0, n
        else:
            assert p.grad is None, n
    assert not any(n.startswith(("lr_tower.", "hr_tower.")) for n in trainable)


@pytest.mark.parametrize("stage", ["0", "1b", "2"])
def test_an_external_lm_learns_only_through_lora_in_every_stage(small_taichi, stage):
    """smollm2's base weights are not stored in checkpoints, so no stage may change them."""
    model, tok, cfg = small_taichi
    m = copy.deepcopy(model)
    with pytest.raises(ValueError, match="apply_lora"):
        set_trainable(m, stage, llm_via_lora=True)
    apply_lora(m, cfg.lora)
    set_trainable(m, stage, llm_via_lora=True)
    llm = {n for n, p in m.named_parameters() if p.requires_grad and n.startswith("llm.")}
    assert llm and all("lora_" in n for n in llm)
    assert any(n.startswith("ban.") for n, p in m.named_parameters() if p.requires_grad)
    towers = any(p.requires_grad for n, p in m.named_parameters() if n.startswith("lr_tower."))
    assert towers == (stage == "0")
    set_trainable(m, stage)    # a from-scratch LM trains fully in 0 and 1b
    full = all(p.requires_grad for n, p in m.named_parameters()
               if n.startswith("llm.") and "lora_" not in n)
    assert full == (stage in ("0", "1b"))


def test_pixel_normalisation_and_connector_norms_from_the_config(small_taichi):
    from conftest import CORPUS, small_config

    from tokcom.factory import create_taichi
    _model, tok, _cfg = small_taichi
    cfg = small_config(visual_norm=True)
    cfg.vision.pixel_mean, cfg.vision.pixel_std = [0.5, 0.4, 0.3], [0.25, 0.2, 0.5]
    torch.manual_seed(0)
    m, _, _ = create_taichi(cfg, tokenizer=tok)
    x = torch.rand(2, 3, 96, 96, generator=G(3))
    v = m.visual_tokens(x)
    # the output norm: every visual token has zero mean and unit variance over its features
    assert torch.allclose(v.mean(-1), torch.zeros(2, 36), atol=1e-5)
    assert torch.allclose(v.var(-1, unbiased=False), torch.ones(2, 36), atol=3e-3)   # LayerNorm eps
    # the towers see (x - mean) / std: the same as an identity-normalised model fed that input
    mean, std = torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1), torch.tensor([0.25, 0.2, 0.5]).view(1, 3, 1, 1)
    m.pixel_mean.zero_(), m.pixel_std.fill_(1.0)
    assert torch.allclose(m.visual_tokens((x - mean) / std), v, atol=1e-5)
    assert "pixel_mean" not in m.state_dict()          # config, not weights
    apply_lora(m, cfg.lora)
    set_trainable(m, "1a")
    assert m.visual_norm_in.weight.requires_grad and m.visual_norm_out.weight.requires_grad
    cfg.vision.pixel_std = [1.0, 0.0, 1.0]
    with pytest.raises(ValueError, match="pixel_std"):
        create_taichi(cfg, corpus=CORPUS)


def test_generation_with_and_without_kv_cache(small_taichi):
    model, tok, cfg = small_taichi
    b = _batch(model, tok, cfg)
    out = channels.get("awgn")(model.transmit(b["prompt_ids"], b["images"]), 5.0, generator=G(3))
    z = model.receive_states(out)
    a = model.generate(z, 6, tok.eos_token_id, use_cache=True)
    c = model.generate(z, 6, tok.eos_token_id, use_cache=False)
    assert torch.equal(a, c)


def test_checkpoint_round_trip_and_corruption(small_taichi, tmp_path):
    model, tok, cfg = small_taichi
    m = copy.deepcopy(model)
    apply_lora(m, cfg.lora)
    path = save_checkpoint(m, tok, cfg, tmp_path / "ck", meta={"stage": "2", "snr_policy": "u(-5,20)"})
    m2, tok2, cfg2 = load_checkpoint(path)
    b = _batch(m, tok, cfg)
    assert tok2(b["answers"][0])["input_ids"] == tok(b["answers"][0])["input_ids"]
    s1 = m.transmit(b["prompt_ids"], b["images"])
    s2 = m2.transmit(b["prompt_ids"], b["images"])
    assert torch.allclose(s1, s2)
    assert (path / "model.safetensors").read_bytes()[:8] != b"\x80\x02\x8a\nl\xfc\x9cF"  # not pickle
    # corrupted weights -> one clear ValueError naming the file
    (path / "model.safetensors").write_bytes(b"garbage" * 10)
    with pytest.raises(ValueError, match="model.safetensors"):
        load_checkpoint(path)


def test_checkpoint_shape_mismatch(small_taichi, tmp_path):
    model, tok, cfg = small_taichi
    path = save_checkpoint(model, tok, cfg, tmp_path / "ck")
    import json
    c = json.loads((path / "config.json").read_text())
    c["symbols_per_token"] = cfg.symbols_per_token * 2
    (path / "config.json").write_text(json.dumps(c))
    with pytest.raises(ValueError, match="does not match"):
        load_checkpoint(path)


def test_missing_weights_give_clear_errors(tmp_path):
    from tokcom.config import load_config
    from tokcom.factory import create_taichi
    cfg = load_config("paper")
    with pytest.raises(FileNotFoundError, match="gemma-2b-it"):
        create_taichi(cfg, tokenizer=object())
    with pytest.raises(ValueError, match="unknown preset"):
        load_config("huge")


def test_missing_clip_weights_name_the_path(tmp_path):
    from tokcom.vision import LRTokenizer
    with pytest.raises(FileNotFoundError, match="nowhere.bin"):
        LRTokenizer.from_open_clip("ViT-L-14-336", str(tmp_path / "nowhere.bin"))


def test_a_frozen_front_end_memoises_its_features_per_image():
    """cache_frozen_features: the towers run once per distinct image while frozen, the features
    are those computed without the memo, and a trainable front end never reads it."""
    from conftest import CORPUS, small_config
    from tokcom.factory import create_taichi
    torch.manual_seed(0)
    model, _tok, _cfg = create_taichi(small_config(), corpus=CORPUS)
    model.eval()
    calls = []
    model.lr_tower.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    imgs = torch.rand(4, 3, 96, 96, generator=G(1))
    with torch.no_grad():
        plain = model.fused_features(imgs)
    model.cache_frozen_features(True)
    model.requires_grad_(False)
    first = model.fused_features(imgs)
    # two images seen, one new: only the new one reaches the towers
    mixed = model.fused_features(torch.stack([imgs[2], torch.rand(3, 96, 96, generator=G(2)), imgs[0]]))
    again = model.fused_features(imgs)
    assert calls == [4, 4, 1]
    torch.testing.assert_close(first, plain, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(again, plain, rtol=0, atol=0)
    torch.testing.assert_close(mixed[0], plain[2], rtol=0, atol=0)
    torch.testing.assert_close(mixed[2], plain[0], rtol=0, atol=0)
    model.cache_frozen_features(True)          # turning it on again keeps what it holds
    model.fused_features(imgs)
    assert calls == [4, 4, 1]
    # a trainable front end computes (and back-propagates) its features, and empties the memo
    model.ban.requires_grad_(True)
    out = model.fused_features(imgs)
    assert calls[-1] == 4 and out.requires_grad
    model.requires_grad_(False)
    model.fused_features(imgs)
    assert calls[-1] == 4 and len(calls) == 5
    model.fused_features(imgs)
    assert len(calls) == 5
    model.cache_frozen_features(False)          # off: every call runs the towers
    model.fused_features(imgs)
    assert len(calls) == 6
