# The stable entry points (see README.md). Every target uses one virtualenv at .venv/.
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

.PHONY: venv controlplane test test-unit test-sim test-e2e lint install run deploy local-up local-down demo bench clean

$(VENV)/.stamp: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,dev]'
	touch $@

venv: $(VENV)/.stamp

bin/kube-apiserver: controlplane/go.mod controlplane/go.sum
	@mkdir -p bin
	cd controlplane && go build -trimpath -ldflags "$(GO_LDFLAGS)" -o ../bin/kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver

bin/etcd: controlplane/go.mod controlplane/go.sum controlplane/cmd/etcd/main.go
	@mkdir -p bin
	cd controlplane && go build -trimpath -ldflags "-s -w" -o ../bin/etcd ./cmd/etcd

controlplane: bin/kube-apiserver bin/etcd

test: venv controlplane
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: venv
	$(PY) -m pytest -m unit $(PYTEST_ARGS)

test-sim: venv
	$(PY) -m pytest -m sim $(PYTEST_ARGS)

test-e2e: venv controlplane
	$(PY) -m pytest -m e2e $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check operator simulator tests bench
	$(VENV)/bin/ruff format --check operator simulator tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

install: venv
	$(VENV)/bin/kubectl apply --server-side -f crds/
	$(VENV)/bin/kubectl wait --for=condition=Established --timeout=60s -f crds/

run: venv
	AZBATCH_METRICS_PORT=$${AZBATCH_METRICS_PORT:-9090} $(VENV)/bin/kopf run --all-namespaces --standalone --liveness=http://0.0.0.0:8080/healthz -m azbatch_operator

local-up: venv controlplane
	$(PY) -m azbatch_operator.devtools.local up --dir .local

local-down: venv
	$(PY) -m azbatch_operator.devtools.local down --dir .local

clean:
	rm -rf bin .local .pytest_cache .mypy_cache .ruff_cache

demo: venv controlplane
	$(PY) -m azbatch_operator.devtools.demo

deploy: venv
	$(VENV)/bin/kubectl apply -k deploy/base

bench: venv controlplane
	$(PY) -m bench
