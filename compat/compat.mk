# Official-SDK compatibility suites (included by the top-level Makefile).
#
#   make compat          all three suites against bin/iothub-emulator
#   make compat-python   pytest with azure-iot-hub / azure-iot-device
#   make compat-node     node --test with azure-iothub / azure-iot-device(-mqtt)
#   make compat-java     Maven + JUnit 5 with iot-service-client / iot-device-client
#   make compat-install  only set up the Python venv, the npm packages and the Maven dependencies
#
# Each suite starts its own emulator on 127.0.0.1 with the ports the SDKs
# dial (8883, 443, 5671 and 5672; 443 needs root or CAP_NET_BIND_SERVICE) and a fresh
# data folder, and stops it with SIGTERM. Installs are redone only when the
# pinned requirements or lock files change (Maven's only when pom.xml does).

PYTHON3 ?= python3
NPM     ?= npm
NODE    ?= node
MVN     ?= mvn
# Extra flags for every Maven call; COMPAT_MAVEN_REPO, when set, replaces
# ~/.m2/repository as the local repository (the install fills it, the test
# run reads it offline).
COMPAT_MVN_FLAGS  ?= -B --no-transfer-progress
COMPAT_MAVEN_REPO ?=

COMPAT_PY_DIR    := compat/python
COMPAT_VENV      := $(COMPAT_PY_DIR)/.venv
COMPAT_VENV_PY   := $(COMPAT_VENV)/bin/python
COMPAT_PY_STAMP  := $(COMPAT_VENV)/.requirements.stamp
COMPAT_NODE_DIR  := compat/node
COMPAT_NODE_STAMP := $(COMPAT_NODE_DIR)/node_modules/.lock.stamp
EXAMPLES_NODE_DIR := examples/node
EXAMPLES_NODE_STAMP := $(EXAMPLES_NODE_DIR)/node_modules/.lock.stamp
COMPAT_JAVA_DIR  := compat/java
COMPAT_JAVA_STAMP := $(COMPAT_JAVA_DIR)/target/.deps.stamp
COMPAT_MVN := $(MVN) $(COMPAT_MVN_FLAGS) $(if $(COMPAT_MAVEN_REPO),-Dmaven.repo.local=$(abspath $(COMPAT_MAVEN_REPO)))

# The suites find the binary through this variable (never IOTHUB_EMULATOR_*,
# which the emulator itself reads as flags).
COMPAT_ENV := COMPAT_EMULATOR_BIN=$(abspath $(BIN))

.PHONY: compat compat-python compat-node compat-java compat-install compat-python-install compat-node-install compat-java-install

# Sequential (the suites need the same fixed ports), and all always run.
compat:
	@status=0; \
	$(MAKE) --no-print-directory compat-python || status=1; \
	$(MAKE) --no-print-directory compat-node || status=1; \
	$(MAKE) --no-print-directory compat-java || status=1; \
	exit $$status

compat-install: compat-python-install compat-node-install compat-java-install

compat-python-install: $(COMPAT_PY_STAMP)

compat-node-install: $(COMPAT_NODE_STAMP) $(EXAMPLES_NODE_STAMP)

compat-java-install: $(COMPAT_JAVA_STAMP)

$(COMPAT_PY_STAMP): $(COMPAT_PY_DIR)/requirements.txt
	@test -x $(COMPAT_VENV_PY) || $(PYTHON3) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV_PY) -m pip install --quiet --disable-pip-version-check --no-input -r $(COMPAT_PY_DIR)/requirements.txt
	@touch $@

$(COMPAT_NODE_STAMP): $(COMPAT_NODE_DIR)/package.json $(COMPAT_NODE_DIR)/package-lock.json
	cd $(COMPAT_NODE_DIR) && $(NPM) ci --no-audit --no-fund --loglevel=error
	@touch $@

$(EXAMPLES_NODE_STAMP): $(EXAMPLES_NODE_DIR)/package.json $(EXAMPLES_NODE_DIR)/package-lock.json
	cd $(EXAMPLES_NODE_DIR) && $(NPM) ci --no-audit --no-fund --loglevel=error
	@touch $@

compat-python: build $(COMPAT_PY_STAMP)
	cd $(COMPAT_PY_DIR) && $(COMPAT_ENV) .venv/bin/python -m pytest -q -rfE

compat-node: build $(COMPAT_NODE_STAMP) $(EXAMPLES_NODE_STAMP)
	cd $(COMPAT_NODE_DIR) && $(COMPAT_ENV) $(NODE) run.mjs

# Fetches every plugin and dependency (the JUnit provider included) and
# compiles the tests, running none, so that the test run can be offline.
$(COMPAT_JAVA_STAMP): $(COMPAT_JAVA_DIR)/pom.xml
	cd $(COMPAT_JAVA_DIR) && $(COMPAT_MVN) -q test -Dtest=NoSuchTest -Dsurefire.failIfNoSpecifiedTests=false -Dcompat.failIfNoTests=false
	@touch $@

compat-java: build $(COMPAT_JAVA_STAMP)
	cd $(COMPAT_JAVA_DIR) && $(COMPAT_ENV) $(COMPAT_MVN) -o test
