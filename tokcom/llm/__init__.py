"""The language model of TaiChi, split into a token encoder (transmitter) and decoder (receiver)."""
from .split import SplitLLM, build_causal_lm

__all__ = ["SplitLLM", "build_causal_lm"]
