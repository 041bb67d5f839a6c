# The Makefile is the interface: CI and people call the same targets (`make help`).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ZK_JAR := /usr/share/java/zookeeper.jar
DEMO_DIR ?= $(CURDIR)/.demo
SOAK_TRIALS ?= 50

.DEFAULT_GOAL := help
.PHONY: help setup test check lint typecheck protos bench soak demo demo-down clean zipapp

help:  ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Debian: apt-get install -y python3 python3-venv)"; exit 1; }
	@# Debian's python3 lacks ensurepip until python3-venv is installed
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null \
	  && $(PYTHON) -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

$(ZK_JAR):
	@echo "installing Debian's zookeeper (for the sandbox cluster and the tests)"
	@if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zookeeper >/dev/null

setup: $(STAMP) $(ZK_JAR)  ## create .venv, install omsync with test extras, install zookeeper, Java 17 + Maven, build the test HDFS and OpenMLDB's SDK probe
	@# tmux runs `omsync tui` in a real terminal for tests/tui/test_tui_tmux.py
	@command -v tmux >/dev/null || { echo "installing Debian's tmux (for the TUI terminal test)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null; }
	@# a JDK (javac, not only the JRE zookeeper pulls in) and Maven build and run the test HDFS,
	@# a MiniDFSCluster (omsync_tui/sandbox/jvm/minihdfs); the first prepare downloads ~130 MB of jars
	@{ command -v java && command -v javac && command -v mvn; } >/dev/null || { \
	  echo "installing Java 17 and Maven (for the test HDFS, a MiniDFSCluster)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jdk-headless maven >/dev/null; }
	$(PY) -m omsync_tui.sandbox.jvm.hdfs prepare
	@# OpenMLDB's released Java SDK (openmldb-jdbc/-native, ~210 MB the first time) for the peer tests
	$(PY) -m omsync_tui.sandbox.jvm.openmldbsdk prepare
	@# Iceberg's Spark runtime + sqlite-jdbc (Maven Central) and pyspark 4.1 (PyPI), for Spark
	@# reading omsync's Iceberg tables through the JDBC catalog (tests/integration/test_iceberg_spark.py)
	$(PY) -m omsync_tui.sandbox.jvm.icebergspark prepare

test: setup  ## run every test (real ZooKeeper, real files, real processes)
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/mypy

protos: setup  ## regenerate omsync_tui/*/proto/*_pb2.py from the .proto files
	$(PY) tools/gen_protos.py

check: setup  ## ruff, mypy, import contracts, generated code in step, tests
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) tools/gen_protos.py --check
	$(PY) -m pytest -q

soak: setup  ## kill -9 the leading synctool 50 times (SOAK_TRIALS=N) while the sandbox writes, to local disk and HDFS, and any of three sharing synctools; every row exactly once
	OMSYNC_SOAK_TRIALS=$(SOAK_TRIALS) $(PY) -m pytest -q tests/integration/test_synctool_soak.py
	OMSYNC_HDFS_KILL_TRIALS=$(SOAK_TRIALS) $(PY) -m pytest -q tests/integration/test_hdfs_e2e.py -k kill_9
	OMSYNC_SCALEOUT_TRIALS=$(SOAK_TRIALS) $(PY) -m pytest -q tests/integration/test_synctool_scaleout.py -k kill_9

bench: setup  ## print speed figures (binlog read+parse, row decoding, collector packing, collector → receiver, end-to-end sync, to HDFS, to Iceberg, put → visible, 1 vs 2 synctools, beside OpenMLDB's SyncTool)
	$(PY) bench/bench_binlog.py
	$(PY) bench/bench_decode.py
	$(PY) bench/bench_collector.py
	$(PY) bench/bench_collector_e2e.py
	$(PY) bench/bench_e2e.py
	$(PY) bench/bench_hdfs.py
	$(PY) bench/bench_iceberg.py
	$(PY) bench/bench_fresh.py
	$(PY) bench/bench_scaleout.py
	$(PY) bench/bench_startup.py
	@# last: its last line is the peer ratio (needs OMSYNC_ORIGINAL_SYNCTOOL; says "unavailable" without)
	$(PY) bench/bench_peer.py

zipapp: setup  ## build dist/omsync.pyz (shiv, every dependency bundled; unpacks to ~/.cache/omsync/pyz)
	$(PY) zipapp/build.py dist/omsync.pyz

demo: setup  ## sandbox cluster: tables, binlogs, snapshots, decoded with `omsync inspect`
	$(PY) tools/demo.py --dir $(DEMO_DIR)

demo-down:  ## stop what `make demo` left running and remove it
	-$(VENV)/bin/omsync sandbox down --dir $(DEMO_DIR)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis $(DEMO_DIR)
