# superd - an inetd-style super-server with in-process service plugins.
#
#   make          build build/superd and the sample plugins
#   make run      build, then serve conf/superd.ini in the foreground
#   make test     build and run every test, then again under ASan+UBSan
#   make fuzz     run each libFuzzer target (tests/fuzz/) for FUZZ_SECONDS=60
#   make install  install under $(DESTDIR)$(PREFIX); make uninstall removes it
#
# `make run`, `make test` and `make deps` first run scripts/deps.sh, which
# installs missing Debian packages when run as root (and says so), or names
# them.  Plain `make` has no side effects: it only names what is missing.

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
CPPFLAGS += -D_GNU_SOURCE -Iinclude -Icore -Isdk
CFLAGS   += -std=c11 $(OPT) -g $(WARN) $(SANFLAGS) -MMD -MP
LDFLAGS  += $(SANFLAGS)

# Recursively expanded on purpose: pkg-config runs after scripts/deps.sh.
INIH_CFLAGS  = $(shell pkg-config --cflags inih)
INIH_LIBS    = $(shell pkg-config --libs inih)
CUNIT_CFLAGS = $(shell pkg-config --cflags cunit)
CUNIT_LIBS   = $(shell pkg-config --libs cunit)
SSL_CFLAGS   = $(shell pkg-config --cflags openssl)
SSL_LIBS     = $(shell pkg-config --libs openssl)

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
TESTS     := $(BUILD)/tests/unit_core $(BUILD)/tests/unit_plugins $(BUILD)/tests/unit_forward $(BUILD)/tests/integration \
             $(BUILD)/tests/workers $(BUILD)/tests/limits $(BUILD)/tests/listeners \
             $(BUILD)/tests/plugin_api

.PHONY: all build run test check check-asan clean deps
all:
	@sh scripts/deps.sh check
	@$(MAKE) --no-print-directory build

deps:
	@sh scripts/deps.sh test

build: $(BUILD)/superd $(PLUGINS) $(BUILD)/superd-import

run:
	@sh scripts/deps.sh
	@$(MAKE) --no-print-directory build
	$(BUILD)/superd -c conf/superd.ini

# Plain build first (with the valgrind cycle), the fuzzers briefly, then the
# same suite under the sanitizers.
test:
	@sh scripts/deps.sh test
	@$(MAKE) --no-print-directory check
	@$(MAKE) --no-print-directory fuzz-ci
	@$(MAKE) --no-print-directory check BUILD=build-asan SAN=1

$(BUILD)/core/%.o: core/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(PATHS) $(INIH_CFLAGS) $(SSL_CFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/superd: $(MAIN_OBJ) $(CORE_OBJ) core/exports.list
	$(CC) $(LDFLAGS) $(EXPORTS) $(MAIN_OBJ) $(CORE_OBJ) $(INIH_LIBS) $(SSL_LIBS) -ldl -o $@

# superd-import (tools/): a separate program, linking nothing of the core.
IMPORT_OBJ := $(patsubst tools/%.c,$(BUILD)/tools/%.o,$(wildcard tools/*.c))
$(BUILD)/tools/%.o: tools/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/superd-import: $(IMPORT_OBJ)
	$(CC) $(LDFLAGS) $^ -o $@

$(BUILD)/plugins/%.so: plugins/%.c include/superd/plugin.h $(wildcard plugins/*.h)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden -shared $< -o $@

clean:
	rm -rf build build-asan

# The rest, one file per concern.
include mk/test.mk mk/fuzz.mk mk/sdk.mk mk/bench.mk

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
