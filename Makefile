# The stable entry points (see README.md). Every target uses one virtualenv at .venv/.
# Quiet by default: one line per step, a step's own output only when it fails. `make V=1` shows all.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KUBE_VERSION := v1.36.3
KUBECONFIG_LOCAL := .local/kubeconfig
GO_LDFLAGS := -s -w -X k8s.io/component-base/version.gitVersion=$(KUBE_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=36 \
	-X k8s.io/component-base/version.gitTreeState=clean
PYTEST_ARGS ?=
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
V ?=
Q := $(if $(V),,@)
# `$(call quietly,LOG,COMMAND)`: run COMMAND with its output in LOG; print the log only on failure.
quietly = $(if $(V),$(2),mkdir -p $(dir $(1)) && { $(2); } >$(1) 2>&1 || { cat $(1); exit 1; })

.PHONY: venv controlplane test test-unit test-sim test-e2e lint install run deploy local-up local-down demo bench clean \
	tools chart monitoring image image-tools constraints

$(VENV)/.stamp: pyproject.toml deploy/constraints.txt
	@echo "== venv: .venv/ with the versions pinned in deploy/constraints.txt (about a minute the first time)"
	$(Q)test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(Q)$(PY) -m pip install -q --disable-pip-version-check -c deploy/constraints.txt --upgrade pip
	$(Q)$(PY) -m pip install -qq --disable-pip-version-check -c deploy/constraints.txt -e '.[test,dev]'
	$(Q)touch $@

venv: $(VENV)/.stamp

# After changing dependencies in pyproject.toml: install them unpinned, then pin what got installed.
constraints:
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,dev]'
	$(PY) tools/pin_constraints.py deploy/constraints.txt
	@touch $(VENV)/.stamp

bin/kube-apiserver: controlplane/go.mod controlplane/go.sum
	@echo "== control plane: building kube-apiserver $(KUBE_VERSION) from its Go modules into bin/ (about 4 minutes the first time)"
	$(Q)$(call quietly,build/logs/kube-apiserver.log,cd controlplane && go build -trimpath -ldflags "$(GO_LDFLAGS)" -o ../bin/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver)

bin/etcd: controlplane/go.mod controlplane/go.sum controlplane/cmd/etcd/main.go
	@echo "== control plane: building etcd into bin/"
	$(Q)$(call quietly,build/logs/etcd.log,cd controlplane && go build -trimpath -ldflags "-s -w" -o ../bin/etcd ./cmd/etcd)

controlplane: bin/kube-apiserver bin/etcd

# Release tools, each from its own Go module under tools/ (versions pinned in its go.mod).
HELM_VERSION = $(shell awk '$$1 == "require" && $$2 == "helm.sh/helm/v3" {print $$3}' tools/helm/go.mod)
HELM_LDFLAGS = -s -w -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=36 \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=36
bin/helm: tools/helm/go.mod tools/helm/go.sum
	@echo "== tools: building helm $(HELM_VERSION) from its Go module into bin/ (about 3 minutes the first time)"
	$(Q)$(call quietly,build/logs/helm.log,cd tools/helm && go build -trimpath -ldflags "$(HELM_LDFLAGS)" -o ../../bin/helm helm.sh/helm/v3/cmd/helm)

# remove_all_sd: no service-discovery plugins (cloud SDKs); rule checks and unit tests need none.
bin/promtool: tools/promtool/go.mod tools/promtool/go.sum
	@echo "== tools: building promtool from the Prometheus Go module into bin/ (a few minutes the first time)"
	$(Q)$(call quietly,build/logs/promtool.log,cd tools/promtool && go build -trimpath -tags remove_all_sd -ldflags "-s -w" -o ../../bin/promtool github.com/prometheus/prometheus/cmd/promtool)

tools: bin/helm bin/promtool

# The Helm chart, staged with its links (crds/, files/) resolved: lint, render the default and a
# full set of values, and package it into build/charts/.
CHART_SRC := $(shell find charts/azbatch-operator crds deploy/base deploy/overlays/ha deploy/argocd deploy/monitoring -type f 2>/dev/null)
CHART_TGZ := build/charts/azbatch-operator-$(VERSION).tgz
$(CHART_TGZ): bin/helm $(CHART_SRC)
	@echo "== chart: helm lint, helm template and helm package of charts/azbatch-operator"
	$(Q)rm -rf build/chart && mkdir -p build/chart build/charts build/logs && cp -rL charts/azbatch-operator build/chart/
	$(Q)bin/helm lint --strict build/chart/azbatch-operator >build/logs/chart-lint.log 2>&1 || { cat build/logs/chart-lint.log; exit 1; }
	$(Q)bin/helm lint --strict build/chart/azbatch-operator -f charts/azbatch-operator/ci/full-values.yaml >build/logs/chart-lint-full.log 2>&1 || { cat build/logs/chart-lint-full.log; exit 1; }
	$(Q)bin/helm template azbatch-operator build/chart/azbatch-operator --namespace azbatch-system >build/chart/default.yaml
	$(Q)bin/helm template azbatch-operator build/chart/azbatch-operator --namespace azbatch-system -f charts/azbatch-operator/ci/full-values.yaml >build/chart/full.yaml
	$(Q)bin/helm package build/chart/azbatch-operator --destination build/charts >/dev/null
	@echo "   $(CHART_TGZ) (rendered: build/chart/default.yaml, build/chart/full.yaml)"

chart: $(CHART_TGZ)

# Alerts: promtool checks deploy/monitoring/prometheusrule.yaml's rules and runs their unit tests.
build/monitoring/azbatch-operator.rules.yaml: deploy/monitoring/prometheusrule.yaml deploy/monitoring/alerts.test.yaml bin/promtool $(VENV)/.stamp
	@echo "== monitoring: promtool check rules and test rules (deploy/monitoring)"
	$(Q)mkdir -p build/monitoring build/logs && cp deploy/monitoring/alerts.test.yaml build/monitoring/
	$(Q)$(PY) -c 'import sys, yaml; yaml.safe_dump(yaml.safe_load(open(sys.argv[1]))["spec"], open(sys.argv[2], "w"), sort_keys=False)' \
		deploy/monitoring/prometheusrule.yaml $@.tmp
	$(Q)bin/promtool check rules $@.tmp >build/logs/promtool.log 2>&1 || { cat build/logs/promtool.log; exit 1; }
	$(Q)mv $@.tmp $@
	$(Q)bin/promtool test rules build/monitoring/alerts.test.yaml >build/logs/promtool-test.log 2>&1 || { cat build/logs/promtool-test.log; rm -f $@; exit 1; }

monitoring: build/monitoring/azbatch-operator.rules.yaml

# The operator's OCI image, without a Docker daemon (buildah, from Debian's packages), on a
# Debian root file system made by mmdebstrap; runs as 65532. `podman run` needs runc here
# (docs/install.md). Each layer is rebuilt only when its inputs change.
IMAGE ?= localhost/azbatch-operator:$(VERSION)
IMAGE_DIR := build/image
IMAGE_TAR := $(IMAGE_DIR)/azbatch-operator-$(VERSION).oci.tar
WHEEL := $(IMAGE_DIR)/dist/azbatch_operator-$(VERSION)-py3-none-any.whl
IMAGE_TOOLS := buildah podman mmdebstrap runc
image-tools:
	$(Q)for t in $(IMAGE_TOOLS); do command -v $$t >/dev/null || missing=1; done; \
	if [ -n "$$missing" ]; then \
		echo "== image: installing $(IMAGE_TOOLS) from Debian's packages"; \
		$(call quietly,build/logs/apt.log,apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(IMAGE_TOOLS) uidmap); \
	fi

$(IMAGE_DIR)/requirements.txt: pyproject.toml
	$(Q)mkdir -p $(@D)
	$(Q)$(PYTHON) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' >$@

# The base layer is cached outside the checkout, keyed by its inputs, so a fresh clone (CI) with
# the same dependencies reuses it.
IMAGE_CACHE ?= $(HOME)/.cache/azbatch-operator/image
BASE_KEY := $(shell cat pyproject.toml deploy/constraints.txt deploy/image/build-base.sh /etc/os-release 2>/dev/null | sha256sum | cut -c1-16)
BASE_CACHED := $(IMAGE_CACHE)/base-$(BASE_KEY).tar
$(BASE_CACHED): | image-tools
	@echo "== image: base layer (Debian $$(. /etc/os-release && echo $$VERSION_CODENAME) + python3 + pinned dependencies in /opt/venv; about 3 minutes)"
	$(Q)$(MAKE) --no-print-directory $(IMAGE_DIR)/requirements.txt
	$(Q)mkdir -p $(@D)
	$(Q)$(call quietly,build/logs/image-base.log,deploy/image/build-base.sh $@.tmp $(IMAGE_DIR)/requirements.txt deploy/constraints.txt)
	$(Q)mv $@.tmp $@

$(IMAGE_DIR)/base.tar: $(BASE_CACHED)
	$(Q)mkdir -p $(@D)
	$(Q)ln -f $< $@ 2>/dev/null || cp $< $@

$(WHEEL): pyproject.toml README.md $(shell find operator simulator -type f -not -path '*/__pycache__/*' -not -path '*.egg-info*') | venv
	$(Q)rm -rf $(IMAGE_DIR)/dist
	$(Q)$(call quietly,build/logs/wheel.log,$(PY) -m pip wheel -q --disable-pip-version-check --no-deps -w $(IMAGE_DIR)/dist .)

$(IMAGE_TAR): $(IMAGE_DIR)/base.tar $(WHEEL) deploy/image/build-image.sh | image-tools
	@echo "== image: operator layer and $(IMAGE) (buildah)"
	$(Q)$(call quietly,build/logs/image.log,PYTHON=$(PY) deploy/image/build-image.sh $(IMAGE_DIR)/base.tar $(WHEEL) $(IMAGE) $@)

image: $(IMAGE_TAR)
	$(Q)podman image exists $(IMAGE) || podman load -q -i $(IMAGE_TAR) >/dev/null
	@echo "   $(IMAGE) in the local containers storage; OCI archive $(IMAGE_TAR)"

test: venv controlplane tools image
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: venv
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

test-sim: venv
	$(PY) -m pytest -m sim $(PYTEST_ARGS)

test-unit: tools
test-e2e: venv controlplane tools image
	$(PY) -m pytest -m e2e $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check operator simulator tests bench tools
	$(VENV)/bin/ruff format --check operator simulator tests bench tools
	$(VENV)/bin/mypy
	$(VENV)/bin/mypy --strict tools/pin_constraints.py
	$(VENV)/bin/lint-imports

install: venv
	$(Q)$(VENV)/bin/kubectl apply --server-side -f crds/
	$(Q)$(VENV)/bin/kubectl wait --for=condition=Established --timeout=60s -f crds/

run: venv
	$(Q)AZBATCH_METRICS_PORT=$${AZBATCH_METRICS_PORT:-9090} $(VENV)/bin/kopf run --all-namespaces --standalone --liveness=http://0.0.0.0:8080/healthz -m azbatch_operator

local-up: venv controlplane
	$(Q)$(PY) -m azbatch_operator.devtools.local up --dir .local

local-down: venv
	$(Q)$(PY) -m azbatch_operator.devtools.local down --dir .local

clean:
	rm -rf bin build .local .pytest_cache .mypy_cache .ruff_cache

demo: venv controlplane
	$(Q)$(PY) -m azbatch_operator.devtools.demo

deploy: venv
	$(Q)$(VENV)/bin/kubectl apply -k deploy/base

bench: venv controlplane
	$(Q)$(PY) -m bench
