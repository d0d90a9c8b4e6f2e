"""Tests for the dual visual tokenizers (tokcom.vision): tiny CPU configs only."""
from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("timm")  # not (yet) in setup.cfg install_requires

from tokcom.vision import HRTokenizer, LRTokenizer, downsample_image


def _lr(**kw) -> LRTokenizer:
    cfg = dict(img_size=48, patch_size=8, embed_dim=32, depth=2, num_heads=4)
    cfg.update(kw)
    return LRTokenizer(**cfg)


def _hr(**kw) -> HRTokenizer:
    cfg = dict(img_size=96, depths=(1, 1), dims=(16, 32))
    cfg.update(kw)
    return HRTokenizer(**cfg)


# ---------------------------------------------------------------- shapes / grids
def test_lr_shapes_dtype_grid():
    tok = _lr()
    out = tok(torch.rand(2, 3, 48, 48))
    assert tok.grid_size == 6 and tok.embed_dim == 32 and tok.img_size == 48
    assert out.shape == (2, 36, 32) and out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_hr_shapes_dtype_grid_and_ratio():
    hr, lr = _hr(), _lr()
    out = hr(torch.rand(2, 3, 96, 96))
    assert hr.grid_size == 12 and hr.embed_dim == 32
    assert out.shape == (2, 144, 32) and out.dtype == torch.float32
    assert hr.grid_size == 2 * lr.grid_size  # the documented r = 2 pairing


@pytest.mark.parametrize("depths,dims,grid", [((1,), (8,), 24), ((1, 1, 1), (8, 16, 24), 6)])
def test_hr_stage_count_sets_grid(depths, dims, grid):
    tok = HRTokenizer(img_size=96, depths=depths, dims=dims)
    assert tok.grid_size == grid
    assert tok(torch.rand(1, 3, 96, 96)).shape == (1, grid * grid, dims[-1])


def test_hr_has_no_head_weights():
    # the tower uses forward_features only; a head (older timm keeps its norm after pruning) would
    # put keys in the state dict that make checkpoints depend on the timm version
    assert not [k for k in _hr().state_dict() if ".head" in k or k.startswith("head")]


def test_hr_tokens_are_row_major():
    tok = _hr().eval()
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        fmap = tok.backbone.forward_features(x)  # (1, C, 12, 12)
        tokens = tok(x)
    i, j = 5, 7
    torch.testing.assert_close(tokens[0, i * 12 + j], fmap[0, :, i, j])


def test_bad_input_and_config_rejected():
    with pytest.raises(ValueError):
        _lr()(torch.rand(1, 3, 40, 40))
    with pytest.raises(ValueError):
        _hr()(torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError):
        LRTokenizer(img_size=50, patch_size=8)
    with pytest.raises(ValueError):
        HRTokenizer(img_size=90, depths=(1, 1), dims=(8, 16))


# ---------------------------------------------------------------- gradients / determinism
@pytest.mark.parametrize("make,size", [(_lr, 48), (_hr, 96)])
def test_gradient_reaches_every_parameter(make, size):
    torch.manual_seed(0)
    tok = make()
    out = tok(torch.rand(2, 3, size, size))
    (out * torch.randn_like(out)).sum().backward()
    for name, p in tok.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize("make,size", [(_lr, 48), (_hr, 96)])
def test_deterministic(make, size):
    x = torch.rand(2, 3, size, size)
    torch.manual_seed(1)
    a = make().eval()
    torch.manual_seed(1)
    b = make().eval()
    with torch.no_grad():
        ya, ya2, yb = a(x), a(x), b(x)
    assert torch.equal(ya, ya2)
    assert torch.equal(ya, yb)


# ---------------------------------------------------------------- downsampling
def test_downsample_image():
    x = torch.rand(2, 3, 96, 96)
    y = downsample_image(x, 2)
    assert y.shape == (2, 3, 48, 48)
    const = torch.full((1, 3, 32, 32), 0.3)
    torch.testing.assert_close(downsample_image(const, 4), torch.full((1, 3, 8, 8), 0.3))
    area = downsample_image(x, 2, mode="area")
    torch.testing.assert_close(area[0, 0, 0, 0], x[0, 0, :2, :2].mean())
    assert downsample_image(x, 1) is x
    with pytest.raises(ValueError):
        downsample_image(torch.rand(1, 3, 30, 30), 4)


# ---------------------------------------------------------------- open_clip presets
@pytest.mark.parametrize("cls,name", [(LRTokenizer, "ViT-L-14-336"), (HRTokenizer, "convnext_large_d_320")])
def test_from_open_clip_missing_checkpoint(tmp_path, cls, name):
    missing = tmp_path / "nope" / "open_clip_pytorch_model.bin"
    with pytest.raises(FileNotFoundError, match="nope/open_clip_pytorch_model.bin"):
        cls.from_open_clip(name, str(missing))


_TEXT = {"context_length": 8, "vocab_size": 64, "width": 16, "heads": 2, "layers": 1}


def _register(tmp_path, name: str, vision_cfg: dict):
    open_clip = pytest.importorskip("open_clip")
    cfg_dir = tmp_path / "cfg"
    cfg_dir.mkdir(exist_ok=True)
    (cfg_dir / f"{name}.json").write_text(
        json.dumps({"embed_dim": 16, "vision_cfg": vision_cfg, "text_cfg": _TEXT})
    )
    open_clip.add_model_config(cfg_dir)
    torch.manual_seed(0)
    model = open_clip.create_model(name).eval()  # random init, nothing downloaded
    ckpt = tmp_path / f"{name}.pt"
    torch.save(model.state_dict(), ckpt)
    return model, str(ckpt)


def test_from_open_clip_tiny_vit_patch_tokens(tmp_path):
    vision = {"image_size": 32, "layers": 3, "width": 32, "patch_size": 8, "head_width": 16}
    model, ckpt = _register(tmp_path, "tokcom-test-tiny-vit", vision)
    tok = LRTokenizer.from_open_clip("tokcom-test-tiny-vit", ckpt, select_layer=-2).eval()
    assert tok.grid_size == 4 and tok.embed_dim == 32
    assert len(tok.backbone.transformer.resblocks) == 2  # blocks after select_layer pruned
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        h = model.visual._embeds(x)  # (B, 1 + 16, 32), CLS first
        for blk in model.visual.transformer.resblocks[:2]:
            h = blk(h)
        out = tok(x)
    assert out.shape == (2, 16, 32)
    torch.testing.assert_close(out, h[:, 1:])


def test_from_open_clip_tiny_convnext_tokens(tmp_path):
    vision = {"timm_model_name": "convnext_atto", "timm_model_pretrained": False,
              "timm_pool": "", "timm_proj": "mlp", "image_size": 64}
    model, ckpt = _register(tmp_path, "tokcom-test-tiny-cnx", vision)
    tok = HRTokenizer.from_open_clip("tokcom-test-tiny-cnx", ckpt, stage=-2).eval()
    assert tok.grid_size == 4 and tok.embed_dim == 160  # convnext_atto stage 3: stride 16, 160 ch
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        ref = model.visual.trunk.forward_intermediates(x, indices=[2], intermediates_only=True)[0]
        out = tok(x)
    assert out.shape == (1, 16, 160)
    torch.testing.assert_close(out, ref.flatten(2).transpose(1, 2))
