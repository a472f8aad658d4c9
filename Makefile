# Each target sets up .venv from requirements.txt when it is missing or older.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint train cross-validate three-classes evaluate bench

$(BIN)/.installed: requirements.txt requirements-serve.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

run: $(BIN)/.installed
	$(BIN)/python -m bot $(ARGS)

# Two workers, one test file each: most tests wait on a fake server or a bot process rather than
# compute, so two workers halve the wait on two cores; a file's module fixtures (a trained model,
# a bot process) are built once. `make test ARGS="-n 0 -k name"` runs one test in this process.
test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadfile $(ARGS)

lint: $(BIN)/.installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# The shipped model's recipe; `make cross-validate` scores it in 5 folds of the training photos.
RECIPE = --data ../shared/data/flowers/train --fine-tune 5 --val-split 0 --dropout 0.5 --seed 0

train: $(BIN)/.installed
	$(BIN)/python -m inference.train $(RECIPE) --out models/flowers

cross-validate: $(BIN)/.installed
	$(BIN)/python -m inference.train $(RECIPE) --out runs/cross-validation --folds 5 $(ARGS)

# The paper trained on 3 classes: every 3 of the 5, each trained by the recipe and scored on dev (about 30 min).
SUBSETS = $(shell $(PYTHON) -c "import itertools, sys; print(*(','.join(c) for c in itertools.combinations(sorted(sys.argv[1:]), 3)))" $(notdir $(wildcard ../shared/data/flowers/train/*)))

three-classes: $(BIN)/.installed
	for subset in $(SUBSETS); do out=runs/three/$$(echo $$subset | tr , -); \
		$(BIN)/python -m inference.train $(RECIPE) --classes $$subset --out $$out && \
		$(BIN)/python -m inference.evaluate --model $$out --data ../shared/data/flowers/dev --tflite-only \
			--json $$out/dev.json || exit 1; done

# The ImageNet sample photos that show flowers (bench/expected/imagenet_samples.tsv) are fair claims, left out.
FLOWER_SAMPLES = $(shell awk -F'\t' '$$2 == "yes" {printf "\"%s\" ", $$1}' bench/expected/imagenet_samples.tsv)

evaluate: $(BIN)/.installed
	$(BIN)/python -m inference.evaluate --model models/flowers --data ../shared/data/flowers/dev --card \
		--unknown ../shared/data/imagenet_samples --exclude $(FLOWER_SAMPLES) $(if $(COMPARE),--compare $(COMPARE)) \
		$(if $(wildcard runs/three/*/dev.json),--subsets runs/three)

bench: $(BIN)/.installed
	$(BIN)/python -m bench.serving
	$(BIN)/python -m bench.e2e
	$(BIN)/python -m bench.few_shot
	$(BIN)/python -m bench.real_photos
	$(BIN)/python -m bench.decode_memory
