"""tokcom: an end-to-end link simulator for token communication."""
__version__ = "0.1.0"
