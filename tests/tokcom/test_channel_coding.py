"""The learned channel decoder's noise feature and its floor from the training SNR policy."""
import torch

from tokcom.channel_coding import ChannelDecoder, ChannelEncoder, set_noise_floor_from_policy
from tokcom.checkpoint import load_checkpoint, save_checkpoint


def test_noise_feature_is_floored_at_the_top_of_the_training_range():
    torch.manual_seed(0)
    dec = ChannelDecoder(16, 4)
    x = torch.randn(2, 12, dtype=torch.complex64)
    zero, at_20db, at_10db = (torch.full((2, 12), v) for v in (0.0, 0.01, 0.1))
    # default floor 40 dB: N0 = 0 and N0 = 0.01 are different inputs
    assert not torch.allclose(dec(x, zero), dec(x, at_20db))
    assert set_noise_floor_from_policy(dec, {"snr_db_uniform": [-5.0, 20.0]}) == 20.0
    assert abs(dec.noise_floor - 0.01) < 1e-9
    assert torch.allclose(dec(x, zero), dec(x, at_20db))          # error-free looks like 20 dB
    assert not torch.allclose(dec(x, at_10db), dec(x, at_20db))   # inside the range: unchanged
    assert set_noise_floor_from_policy(dec, None) is None and abs(dec.noise_floor - 0.01) < 1e-9


def test_loading_a_checkpoint_applies_its_recorded_policy(tmp_path, small_taichi):
    model, tok, cfg = small_taichi
    save_checkpoint(model, tok, cfg, tmp_path / "ck",
                    meta={"snr_policy": {"snr_db_uniform": [0.0, 10.0]}})
    loaded, _, _ = load_checkpoint(tmp_path / "ck")
    assert abs(loaded.channel_decoder.noise_floor - 0.1) < 1e-7
    save_checkpoint(model, tok, cfg, tmp_path / "ck2", meta={})
    assert load_checkpoint(tmp_path / "ck2")[0].channel_decoder.noise_floor == 1e-4
    assert isinstance(model.channel_encoder, ChannelEncoder)


def test_a_codec_trained_without_noise_keeps_the_default_floor():
    dec = ChannelDecoder(8, 2)
    assert set_noise_floor_from_policy(dec, {"snr_db_uniform": [-5, 20], "channels": ["none"]}) is None
    assert dec.noise_floor == ChannelDecoder.DEFAULT_NOISE_FLOOR


def test_state_statistics_standardise_at_the_encoder_and_restore_at_the_decoder():
    """States with one huge dimension (as a pretrained LM's are): after calibration the encoder's
    network sees unit-scale inputs and a decoder whose network outputs 0 returns the mean state."""
    from tokcom.channel_coding import calibrate_state_stats, needs_state_calibration
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4, 6, 16, generator=g)
    z[..., 3] = 700.0 + 5.0 * z[..., 3]
    enc = ChannelEncoder(16, 2, state_stats=True)
    dec = ChannelDecoder(16, 2, state_stats=True)
    model = torch.nn.ModuleDict({"enc": enc, "dec": dec, "plain": ChannelDecoder(16, 2)})
    assert needs_state_calibration(model)
    assert calibrate_state_stats(model, z) == 2          # the plain decoder has none
    assert not needs_state_calibration(model)
    seen = []
    enc.net.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    enc(z)
    u = seen[0].reshape(-1, 16)
    assert u.mean(0).abs().max() < 1e-4 and (u.std(0) - 1).abs().max() < 1e-4
    torch.nn.init.zeros_(dec.net[-1].weight), torch.nn.init.zeros_(dec.net[-1].bias)
    out = dec(torch.zeros(4, 12, dtype=torch.complex64), torch.zeros(4, 12))
    assert torch.allclose(out[0, 0], z.reshape(-1, 16).mean(0))
    assert out[..., 3].mean() > 690                      # the scale a plain decoder cannot reach


def test_state_statistics_travel_with_the_checkpoint(tmp_path):
    from conftest import small_config
    from tokcom.channel_coding import calibrate_state_stats, needs_state_calibration
    from tokcom.factory import create_taichi
    model, tok, cfg = create_taichi(small_config(codec_state_stats=True))
    assert needs_state_calibration(model)
    calibrate_state_stats(model, 3.0 + torch.randn(50, model.llm.hidden_size))
    save_checkpoint(model, tok, cfg, tmp_path / "ck")
    loaded, _, cfg2 = load_checkpoint(tmp_path / "ck")
    assert cfg2.codec_state_stats and not needs_state_calibration(loaded)
    assert torch.equal(loaded.channel_decoder.stats.mean, model.channel_decoder.stats.mean)


def test_joint_coding_lets_tokens_share_symbols_at_the_same_channel_uses():
    """With context layers a token's symbols depend on the other tokens and on its position; each
    token alone (the default) they depend on its own state only. Same channel uses, unit power."""
    import pytest
    torch.manual_seed(0)
    z = torch.randn(2, 6, 16)
    z2 = z.clone()
    z2[:, 5] += torch.randn(16)                           # change the last token only
    same = z.clone()
    same[:, 1] = same[:, 0]                               # two equal states at positions 0 and 1
    alone, joint = ChannelEncoder(16, 2), ChannelEncoder(16, 2, context_layers=1, max_tokens=8)
    for enc in (alone, joint):
        x = enc(z)
        assert x.shape == (2, 12) and torch.allclose((x.abs() ** 2).mean(1), torch.ones(2))
    # symbols of tokens 0-4 before power normalisation: compare directions, not the scale
    def first(enc, v):
        s = enc(v)[:, :10]
        return s / s.abs().pow(2).sum(1, keepdim=True).sqrt()
    assert torch.allclose(first(alone, z), first(alone, z2), atol=1e-6)
    assert not torch.allclose(first(joint, z), first(joint, z2), atol=1e-4)
    assert torch.allclose(alone(same)[:, 0:2], alone(same)[:, 2:4])
    assert not torch.allclose(joint(same)[:, 0:2], joint(same)[:, 2:4])
    dec = ChannelDecoder(16, 2, context_layers=1, max_tokens=8)
    y = torch.randn(2, 12, dtype=torch.complex64)
    y2 = y.clone()
    y2[:, 11] += 1.0                                      # the last token's received symbols
    no = torch.full((2, 12), 0.01)
    assert dec(y, no).shape == (2, 6, 16)
    assert not torch.allclose(dec(y, no)[:, 0], dec(y2, no)[:, 0], atol=1e-5)
    with pytest.raises(ValueError, match="exceed the codec's 8 positions"):
        joint(torch.randn(1, 9, 16))


def test_joint_codec_travels_with_the_checkpoint(tmp_path):
    from conftest import small_config
    from tokcom.factory import create_taichi
    model, tok, cfg = create_taichi(small_config(codec_context_layers=1))
    assert model.channel_encoder.context is not None and model.channel_decoder.context is not None
    save_checkpoint(model, tok, cfg, tmp_path / "ck")
    loaded, _, cfg2 = load_checkpoint(tmp_path / "ck")
    assert cfg2.codec_context_layers == 1
    assert torch.equal(loaded.channel_encoder.context.pos, model.channel_encoder.context.pos)
    assert model.symbols_per_sample(cfg.max_prompt_tokens) == cfg.max_prompt_tokens * cfg.symbols_per_token
