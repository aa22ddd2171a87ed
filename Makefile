# Two commands for a newcomer: `make demo` and `make test`. Both create .venv on first use and reuse it after.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# torch + torchvision are installed as a matched pair first: timm imports torchvision, and the CPU-only torch
# wheel has no matching torchvision build (README, "Two commands"). The regular (CUDA) build runs fine on CPU.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

.PHONY: install test demo bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# pytest exits 5 when it collects no tests: say so instead of failing with make's generic error.
test: install
	$(PY) -m pytest tests -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 0; fi; exit $$rc

demo: install
	$(PY) -m hf_seq2seq_vit.demo

clean:
	rm -rf $(VENV) outputs lightning_logs
