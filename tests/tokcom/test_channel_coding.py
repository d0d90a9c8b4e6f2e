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
