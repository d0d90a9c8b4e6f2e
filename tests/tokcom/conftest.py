"""A small TaiChi (seconds to build) shared by the model tests."""
import pytest
import torch

from tokcom.config import TaiChiConfig, load_config
from tokcom.tasks import TASKS

CORPUS = ([t.instruction for t in TASKS.values()] + [t.short_instruction for t in TASKS.values()]
          + ["what color is the small cube left of the sphere", "how many red spheres are there",
             "is there a striped object", "yes", "no", "red", "blue", "large", "positive",
             "negative", "the movie was not good but the cast was charming"] * 10)


def small_config(**over) -> TaiChiConfig:
    cfg = load_config("tiny")
    cfg.vision.lr = {"img_size": 48, "patch_size": 8, "embed_dim": 32, "depth": 1, "num_heads": 2}
    cfg.vision.hr = {"img_size": 96, "depths": [1, 1], "dims": [16, 32], "patch_size": 4}
    cfg.ban = {"dim": 32, "num_heads": 2, "hr_neighbourhood": 3}
    cfg.llm.config = {**cfg.llm.config, "hidden_size": 32, "intermediate_size": 64,
                      "num_attention_heads": 4, "num_key_value_heads": 2}
    cfg.tokenizer_vocab = 400
    for k, v in over.items():
        setattr(cfg, k, v)
    return cfg


@pytest.fixture(scope="session")
def small_taichi():
    from tokcom.factory import create_taichi
    torch.manual_seed(0)
    return create_taichi(small_config(), corpus=CORPUS)
