# mk/test.mk - the tests: make check and what it builds (included by the Makefile).

# Programs some tests run, from Debian's packages, unpacked (never installed)
# into one tree shared by every build; a test whose program could not be had
# says it is skipped.
TEST_DEPS_DIR := build-deps
TEST_DEPS     := prometheus haproxy liblua5.3-0 libopentracing-c-wrapper0 libopentracing1 sslscan \
                 xinetd openbsd-inetd libwrap0
export SUPERD_TEST_DEPS := $(CURDIR)/$(TEST_DEPS_DIR)/root

.PHONY: test-deps
test-deps:
	@sh scripts/debfetch.sh $(TEST_DEPS_DIR) $(TEST_DEPS) || \
	    echo "test-deps: some tests will be skipped (their programs are missing)"

check: build $(TPLUGINS) $(BUILD)/tests/plugins/readme_example.so \
       $(BUILD)/tests/plugins/crashy_v2.so $(TESTS) sdk $(BUILD)/tests/sdk_client \
       $(BUILD)/tests/superd-abi1.0 test-deps
	@echo "== unit tests: core ($(BUILD)) =="
	$(BUILD)/tests/unit_core
	@echo "== unit tests: sample plugins against the fake host ($(BUILD)) =="
	$(BUILD)/tests/unit_plugins $(BUILD)/plugins
	$(BUILD)/tests/unit_forward $(BUILD)/plugins
	@echo "== integration tests: the real binary on loopback ($(BUILD)) =="
	$(BUILD)/tests/integration $(BUILD)
	@echo "== TLS scan: sslscan against a tls:// listener: protocols, ciphers, renegotiation ($(BUILD)) =="
	sh tests/tlsscan.sh $(BUILD)
	@echo "== integration tests: master and workers ($(BUILD)) =="
	$(BUILD)/tests/workers $(BUILD)
	@echo "== integration tests: limits and access control ($(BUILD)) =="
	$(BUILD)/tests/limits $(BUILD)
	@echo "== integration tests: unix socket files ($(BUILD)) =="
	$(BUILD)/tests/listeners $(BUILD)
	@echo "== integration tests: the plugin API in the daemon ($(BUILD)) =="
	$(BUILD)/tests/plugin_api $(BUILD)
	@echo "== plugin ABI: exports match the header, a 1.0 host refuses a 1.1 plugin by version ($(BUILD)) =="
	sh tests/abi.sh $(BUILD)
	@echo "== plugin SDK: install, out-of-tree plugins, the guide's examples, man pages ($(BUILD)) =="
	MAKE='$(MAKE)' PREFIX='$(PREFIX)' SYSCONFDIR='$(SYSCONFDIR)' SAN='$(SAN)' sh tests/sdk.sh $(BUILD)
	@echo "== superd-import: inetd.conf and xinetd files, Debian's and the tests' ($(BUILD)) =="
	sh tests/import.sh $(BUILD)
	@echo "== classic services: Debian's xinetd and openbsd-inetd beside superd on superd-import's output ($(BUILD)) =="
	sh tests/classic.sh $(BUILD)
	@echo "== real programs from Debian's packages as exec services: tftpd-hpa, git daemon, rsync ($(BUILD)) =="
	sh tests/realprog.sh $(BUILD)
	@echo "== valgrind: one start-serve-stop cycle, no leak ($(BUILD)) =="
	$(if $(filter 1,$(SAN)),@echo "valgrind: skipped under SAN=1 (ASan and valgrind do not mix)",sh tests/valgrind.sh $(BUILD))


$(BUILD)/tests/plugins/%.so: tests/plugins/%.c include/superd/plugin.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -shared $< -o $@

# crashy again, as a "rebuilt" version 2, for the reload tests.
$(BUILD)/tests/plugins/crashy_v2.so: tests/plugins/crashy.c include/superd/plugin.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DCRASHY_VERSION='"2"' -fPIC -fvisibility=hidden -shared $< -o $@

# The README's plugin example, extracted and built, so it cannot rot.
$(BUILD)/tests/plugins/readme_example.so: README.md include/superd/plugin.h
	@mkdir -p $(@D)
	awk '/^```c$$/ {on=1; next} /^```$$/ {if (on) exit} on' README.md > $(BUILD)/tests/readme_example.c
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -shared $(BUILD)/tests/readme_example.c -o $@

$(BUILD)/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(PATHS) $(SSL_CFLAGS) -DTEST_PLUGIN_DIR='"$(CURDIR)/$(BUILD)/tests/plugins"' \
	    $(INIH_CFLAGS) $(CUNIT_CFLAGS) $(CFLAGS) -c $< -o $@

# Core unit tests link the real core objects (not main.o).
UNIT_CORE_OBJ := $(patsubst tests/%.c,$(BUILD)/tests/%.o,tests/unit_core_main.c $(wildcard tests/test_core_*.c))
# The test plugins are loaded at run time: built first, never linked.
$(BUILD)/tests/unit_core: $(UNIT_CORE_OBJ) $(CORE_OBJ) | $(TPLUGINS)
	$(CC) $(LDFLAGS) $(EXPORTS) $^ $(INIH_LIBS) $(SSL_LIBS) $(CUNIT_LIBS) -ldl -o $@

# Plugin unit tests: the fake host (sdk/) stands in for the daemon.
$(BUILD)/tests/unit_plugins: $(BUILD)/sdk/fakehost.o $(BUILD)/core/abi.o $(BUILD)/tests/test_plugins.o \
                             $(BUILD)/tests/test_plugins_api11.o \
                             | $(TPLUGINS)
	$(CC) $(LDFLAGS) $(EXPORTS) $(filter %.o,$^) $(CUNIT_LIBS) -ldl -o $@

# The forward plugin against the fake host (tests/test_forward.c).
$(BUILD)/tests/unit_forward: $(BUILD)/sdk/fakehost.o $(BUILD)/core/abi.o $(BUILD)/tests/test_forward.o \
                             | $(BUILD)/plugins/forward.so
	$(CC) $(LDFLAGS) $(EXPORTS) $(filter %.o,$^) $(CUNIT_LIBS) -ldl -o $@

$(BUILD)/sdk/%.o: sdk/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# The daemon as a host of plugin ABI 1.0 (tests/abi.sh): the descriptor
# check presents minor 0, and the 1.1 functions are left out.
ABI11_SRC := abi api_addr timer watch outbound api_flow dgram_hold api_tls
ABI10_OBJ := $(ABI11_SRC:%=$(BUILD)/tests/abi1.0/%.o)
$(BUILD)/tests/abi1.0/%.o: core/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -DSUPERD_HOST_ABI_MINOR=0 $(INIH_CFLAGS) $(SSL_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/tests/superd-abi1.0: $(MAIN_OBJ) $(filter-out $(ABI11_SRC:%=$(BUILD)/core/%.o),$(CORE_OBJ)) \
                              $(ABI10_OBJ) core/exports.list
	$(CC) $(LDFLAGS) $(EXPORTS) $(filter %.o,$^) $(INIH_LIBS) $(SSL_LIBS) -ldl -o $@

# Programs the exec tests run: static (they also run in an empty chroot),
# never sanitized (a child of the daemon, not the code under test).
TPROGS := $(patsubst tests/programs/%.c,$(BUILD)/tests/programs/%,$(wildcard tests/programs/*.c))
$(BUILD)/tests/programs/%: tests/programs/%.c
	@mkdir -p $(@D)
	$(CC) -D_GNU_SOURCE -std=c11 -O2 $(WARN) -static $< -o $@

$(BUILD)/tests/integration: $(patsubst tests/%.c,$(BUILD)/tests/%.o,$(wildcard tests/integration*.c)) | $(TPROGS) $(TPLUGINS)
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(CUNIT_LIBS) $(SSL_LIBS) -o $@

# Master/worker tests share the integration helpers.
$(BUILD)/tests/workers: $(BUILD)/tests/workers.o $(BUILD)/tests/integration_util.o
	$(CC) $(LDFLAGS) $^ $(CUNIT_LIBS) -o $@

# Limits and access control share them too.
$(BUILD)/tests/limits: $(BUILD)/tests/limits.o $(BUILD)/tests/integration_util.o
	$(CC) $(LDFLAGS) $^ $(CUNIT_LIBS) -o $@

# Unix socket files (modes, squatted paths, reloads) share them too.
$(BUILD)/tests/listeners: $(BUILD)/tests/listeners.o $(BUILD)/tests/integration_util.o
	$(CC) $(LDFLAGS) $^ $(CUNIT_LIBS) -o $@

# The plugin API as plugins see it in the daemon (addresses, warnings).
$(BUILD)/tests/plugin_api: $(BUILD)/tests/plugin_api.o $(BUILD)/tests/integration_util.o | $(TPLUGINS)
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(CUNIT_LIBS) -o $@
