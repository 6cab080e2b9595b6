# superd - an inetd-style super-server with in-process service plugins.
#
#   make          build build/superd and the sample plugins
#   make run      build, then serve conf/superd.ini in the foreground
#   make test     build and run every test, then again under ASan+UBSan
#
# `make`, `make run` and `make test` first run scripts/deps.sh, which installs
# missing Debian packages when run as root (and says so), or names them.

VERSION    := 0.1.0
PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
BUILD      ?= build
CC         ?= cc

# SAN=1 builds with AddressSanitizer and UndefinedBehaviorSanitizer.
ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
OPT      := -O1
else
SANFLAGS :=
OPT      := -O2
endif

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2
CPPFLAGS += -D_GNU_SOURCE -Iinclude -Icore
CFLAGS   += -std=c11 $(OPT) -g $(WARN) $(SANFLAGS) -MMD -MP
LDFLAGS  += $(SANFLAGS)

# Recursively expanded on purpose: pkg-config runs after scripts/deps.sh.
INIH_CFLAGS  = $(shell pkg-config --cflags inih)
INIH_LIBS    = $(shell pkg-config --libs inih)
CUNIT_CFLAGS = $(shell pkg-config --cflags cunit)
CUNIT_LIBS   = $(shell pkg-config --libs cunit)

PATHS := -DSUPERD_VERSION='"$(VERSION)"' \
         -DSUPERD_BUILD_PLUGIN_DIR='"$(CURDIR)/$(BUILD)/plugins"' \
         -DSUPERD_PLUGIN_DIR='"$(PREFIX)/lib/superd"' \
         -DSUPERD_DEFAULT_CONFIG='"$(SYSCONFDIR)/superd/superd.ini"'

CORE_SRC  := $(filter-out core/main.c,$(wildcard core/*.c))
CORE_OBJ  := $(CORE_SRC:%.c=$(BUILD)/%.o)
MAIN_OBJ  := $(BUILD)/core/main.o
PLUGINS   := $(patsubst plugins/%.c,$(BUILD)/plugins/%.so,$(wildcard plugins/*.c))
TPLUGINS  := $(patsubst tests/plugins/%.c,$(BUILD)/tests/plugins/%.so,$(wildcard tests/plugins/*.c))
# The daemon exports the superd_* API to plugins and nothing else.
EXPORTS   := -Wl,--dynamic-list=core/exports.list
TESTS     := $(BUILD)/tests/unit_core $(BUILD)/tests/unit_plugins $(BUILD)/tests/integration \
             $(BUILD)/tests/workers

.PHONY: all build run test check check-asan clean deps
all:
	@sh scripts/deps.sh
	@$(MAKE) --no-print-directory build

build: $(BUILD)/superd $(PLUGINS)

run:
	@sh scripts/deps.sh
	@$(MAKE) --no-print-directory build
	$(BUILD)/superd -c conf/superd.ini

# Plain build first, then the same suite under the sanitizers.
test:
	@sh scripts/deps.sh test
	@$(MAKE) --no-print-directory check
	@$(MAKE) --no-print-directory check BUILD=build-asan SAN=1

check: build $(TPLUGINS) $(BUILD)/tests/plugins/readme_example.so \
       $(BUILD)/tests/plugins/crashy_v2.so $(TESTS)
	@echo "== unit tests: core ($(BUILD)) =="
	$(BUILD)/tests/unit_core
	@echo "== unit tests: sample plugins against the fake host ($(BUILD)) =="
	$(BUILD)/tests/unit_plugins $(BUILD)/plugins
	@echo "== integration tests: the real binary on loopback ($(BUILD)) =="
	$(BUILD)/tests/integration $(BUILD)
	@echo "== integration tests: master and workers ($(BUILD)) =="
	$(BUILD)/tests/workers $(BUILD)

$(BUILD)/core/%.o: core/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(PATHS) $(INIH_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/superd: $(MAIN_OBJ) $(CORE_OBJ) core/exports.list
	$(CC) $(LDFLAGS) $(EXPORTS) $(MAIN_OBJ) $(CORE_OBJ) $(INIH_LIBS) -ldl -o $@

$(BUILD)/plugins/%.so: plugins/%.c include/superd/plugin.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -shared $< -o $@

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
	$(CC) $(CPPFLAGS) $(PATHS) -DTEST_PLUGIN_DIR='"$(CURDIR)/$(BUILD)/tests/plugins"' \
	    $(INIH_CFLAGS) $(CUNIT_CFLAGS) $(CFLAGS) -c $< -o $@

# Core unit tests link the real core objects (not main.o).
UNIT_CORE_OBJ := $(patsubst tests/%.c,$(BUILD)/tests/%.o,tests/unit_core_main.c $(wildcard tests/test_core_*.c))
# The test plugins are loaded at run time: built first, never linked.
$(BUILD)/tests/unit_core: $(UNIT_CORE_OBJ) $(CORE_OBJ) | $(TPLUGINS)
	$(CC) $(LDFLAGS) $(EXPORTS) $^ $(INIH_LIBS) $(CUNIT_LIBS) -ldl -o $@

# Plugin unit tests: the fake host stands in for the daemon.
$(BUILD)/tests/unit_plugins: $(BUILD)/tests/fakehost.o $(BUILD)/tests/test_plugins.o
	$(CC) $(LDFLAGS) $(EXPORTS) $^ $(CUNIT_LIBS) -ldl -o $@

$(BUILD)/tests/integration: $(patsubst tests/%.c,$(BUILD)/tests/%.o,$(wildcard tests/integration*.c))
	$(CC) $(LDFLAGS) $^ $(CUNIT_LIBS) -o $@

# Master/worker tests share the integration helpers.
$(BUILD)/tests/workers: $(BUILD)/tests/workers.o $(BUILD)/tests/integration_util.o
	$(CC) $(LDFLAGS) $^ $(CUNIT_LIBS) -o $@

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
