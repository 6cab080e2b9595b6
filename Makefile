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

# Programs some tests run, from Debian's packages, unpacked (never installed)
# into one tree shared by every build; a test whose program could not be had
# says it is skipped.
TEST_DEPS_DIR := build-deps
TEST_DEPS     := prometheus haproxy liblua5.3-0 libopentracing-c-wrapper0 libopentracing1 sslscan
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
	@echo "== real programs from Debian's packages as exec services: tftpd-hpa, git daemon, rsync ($(BUILD)) =="
	sh tests/realprog.sh $(BUILD)
	@echo "== valgrind: one start-serve-stop cycle, no leak ($(BUILD)) =="
	$(if $(filter 1,$(SAN)),@echo "valgrind: skipped under SAN=1 (ASan and valgrind do not mix)",sh tests/valgrind.sh $(BUILD))

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

# ---- fuzzing (tests/fuzz/) ----
# make fuzz       every libFuzzer target for FUZZ_SECONDS (60) seconds each
# make fuzz-ci    the same for FUZZ_CI_SECONDS (5) each; part of `make test`
# Built with clang into $(BUILD)/fuzz/ (core objects and plugins too, never
# the gcc objects); scratch corpora, logs and crash inputs stay there.
.PHONY: fuzz fuzz-ci fuzz-build
FUZZ_CC         ?= clang
FUZZ_SECONDS    ?= 60
FUZZ_CI_SECONDS ?= 5
FUZZ_DIR        := $(BUILD)/fuzz
FUZZ_TARGETS    := config addr cidr plugins proxy
FUZZ_SAN        := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS     := -std=c11 -O1 -g $(WARN) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -MMD -MP
FUZZ_LDFLAGS    := $(FUZZ_SAN) -fsanitize=fuzzer
# shims.c keeps DNS, NSS and globs outside tests/fuzz/include away from the
# fuzzed parsers.
FUZZ_WRAP       := -Wl,--wrap=getaddrinfo,--wrap=glob,--wrap=getpwnam,--wrap=getgrnam
FUZZ_DEFS       := -DFUZZ_INCLUDE_DIR='"$(CURDIR)/tests/fuzz/include"' \
                   -DFUZZ_PLUGIN_DIR='"$(CURDIR)/$(FUZZ_DIR)/plugins"'
FUZZ_PLUGINS    := $(FUZZ_DIR)/plugins/echo.so $(FUZZ_DIR)/plugins/discard.so \
                   $(FUZZ_DIR)/plugins/daytime.so

fuzz:
	@sh scripts/deps.sh test
	@$(MAKE) --no-print-directory fuzz-build
	sh tests/fuzz/run.sh $(BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-ci:
	@sh scripts/deps.sh test
	@$(MAKE) --no-print-directory fuzz-build
	sh tests/fuzz/run.sh $(BUILD) $(FUZZ_CI_SECONDS) $(FUZZ_TARGETS)

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_DIR)/fuzz_%) $(FUZZ_PLUGINS)

$(FUZZ_DIR)/core/%.o: core/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(INIH_CFLAGS) $(SSL_CFLAGS) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) -Itests $(FUZZ_DEFS) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/sdk/%.o: sdk/%.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/plugins/%.so: plugins/%.c include/superd/plugin.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fPIC -fvisibility=hidden -shared $< -o $@

$(FUZZ_DIR)/fuzz_config: $(FUZZ_DIR)/tests/fuzz/fuzz_config.o $(FUZZ_DIR)/tests/fuzz/shims.o \
                         $(addprefix $(FUZZ_DIR)/core/,config.o conf_keys.o addr.o access.o log.o \
                         tls_conf.o tls.o loop.o exec_conf.o exec_args.o)
	$(FUZZ_CC) $(FUZZ_LDFLAGS) $(FUZZ_WRAP) $^ $(INIH_LIBS) $(SSL_LIBS) -o $@

$(FUZZ_DIR)/fuzz_addr: $(FUZZ_DIR)/tests/fuzz/fuzz_addr.o $(FUZZ_DIR)/tests/fuzz/shims.o \
                       $(FUZZ_DIR)/core/addr.o
	$(FUZZ_CC) $(FUZZ_LDFLAGS) $(FUZZ_WRAP) $^ -o $@

$(FUZZ_DIR)/fuzz_proxy: $(FUZZ_DIR)/tests/fuzz/fuzz_proxy.o $(FUZZ_DIR)/core/proxy.o
	$(FUZZ_CC) $(FUZZ_LDFLAGS) $^ -o $@

$(FUZZ_DIR)/fuzz_cidr: $(FUZZ_DIR)/tests/fuzz/fuzz_cidr.o $(FUZZ_DIR)/core/access.o
	$(FUZZ_CC) $(FUZZ_LDFLAGS) $^ -o $@

# The plugins it dlopens resolve superd_* against the fake host in it.
$(FUZZ_DIR)/fuzz_plugins: $(FUZZ_DIR)/tests/fuzz/fuzz_plugins.o $(FUZZ_DIR)/sdk/fakehost.o \
                          $(FUZZ_DIR)/core/abi.o core/exports.list | $(FUZZ_PLUGINS)
	$(FUZZ_CC) $(FUZZ_LDFLAGS) $(EXPORTS) $(filter %.o,$^) -ldl -o $@

clean:
	rm -rf build build-asan

# ---- installation and the plugin SDK (docs/plugins.md) ----
# make install    install under $(DESTDIR)$(PREFIX) (PREFIX=/usr/local), and
#                 the example configuration as $(DESTDIR)$(SYSCONFDIR)/superd/
#                 superd.ini, or as superd.ini.example beside an existing one
# make uninstall  remove what install put there; a superd.ini that differs
#                 from the example is kept, with a message
# PREFIX and SYSCONFDIR are compiled into the binary (the installed plugin
# directory, the default -c file): objects are rebuilt when they change.
.PHONY: install uninstall sdk FORCE
SBINDIR    = $(PREFIX)/sbin
BINDIR     = $(PREFIX)/bin
LIBDIR     = $(PREFIX)/lib
# Must match SUPERD_PLUGIN_DIR in PATHS.
PLUGINDIR  = $(PREFIX)/lib/superd
INCLUDEDIR = $(PREFIX)/include
PCDIR      = $(LIBDIR)/pkgconfig
SDKDIR     = $(PREFIX)/share/superd
DOCDIR     = $(PREFIX)/share/doc/superd
MANDIR     = $(PREFIX)/share/man
CONFDIR    = $(SYSCONFDIR)/superd
ABI       := $(shell awk '$$2 == "SUPERD_ABI_MAJOR" {M = $$3} $$2 == "SUPERD_ABI_MINOR" {m = $$3} \
                          END {print M "." m}' include/superd/plugin.h)
MANPAGES  := docs/superd.8 docs/superd.ini.5 docs/superd-plugin.3 docs/superd-import.1
TEMPLATE  := $(wildcard examples/plugin-template/Makefile examples/plugin-template/*.c)
EXAMPLES  := $(wildcard docs/examples/*.c)
SDK_FILES := $(BUILD)/libsuperd-fakehost.a $(BUILD)/superd.pc $(BUILD)/superd.ini.installed

sdk: build $(SDK_FILES)

$(BUILD)/paths.txt: FORCE
	@mkdir -p $(@D)
	@printf '%s\n' '$(subst ','\'',$(PATHS))' | cmp -s - $@ || \
	    printf '%s\n' '$(subst ','\'',$(PATHS))' > $@
$(CORE_OBJ) $(MAIN_OBJ): $(BUILD)/paths.txt

# The fake host (sdk/) as a library for plugin authors' unit tests, with
# the daemon's own descriptor check (core/abi.c).
$(BUILD)/lib/fakehost.o: sdk/fakehost.c sdk/fakehost.h core/abi.h include/superd/plugin.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -c $< -o $@

$(BUILD)/lib/abi.o: core/abi.c core/abi.h include/superd/plugin.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -c $< -o $@

$(BUILD)/libsuperd-fakehost.a: $(BUILD)/lib/fakehost.o $(BUILD)/lib/abi.o
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/superd.pc: superd.pc.in include/superd/plugin.h Makefile $(BUILD)/paths.txt
	@mkdir -p $(@D)
	sed -e 's|@prefix@|$(PREFIX)|' -e 's|@includedir@|$(INCLUDEDIR)|' -e 's|@libdir@|$(LIBDIR)|' \
	    -e 's|@plugindir@|$(PLUGINDIR)|' -e 's|@sdkdir@|$(SDKDIR)|' \
	    -e 's|@abi@|$(ABI)|' -e 's|@version@|$(VERSION)|' \
	    -e '/^prefix=/!s|=$(PREFIX)/|=$${prefix}/|' $< > $@

# The installed example: conf/superd.ini without the plugin_dir that points
# into the build tree (an installed superd finds its plugins in PLUGINDIR),
# and without any other mention of the source tree.
$(BUILD)/superd.ini.installed: conf/superd.ini Makefile $(BUILD)/paths.txt
	@mkdir -p $(@D)
	sed -e '/^; `make` builds the sample plugins/d' \
	    -e 's|^plugin_dir *=.*|; plugin_dir = DIR   ; not needed: superd finds NAME.so in $(PLUGINDIR)|' \
	    -e 's|found in plugin_dir\.|found in $(PLUGINDIR).|' \
	    -e 's|^; user, from the repository root.*|; user: superd -c $(CONFDIR)/superd.ini|' \
	    -e 's|^; Reference: docs/configuration\.md\.|; Reference: superd.ini(5), `man superd.ini`.|' \
	    $< > $@
	@! grep -q '^[[:space:]]*plugin_dir' $@ || { echo "$@: plugin_dir left in" >&2; rm -f $@; exit 1; }
	@! grep -nE 'repository|docs/|build/|conf/superd|make run' $@ || \
	    { echo "$@: mentions the source tree" >&2; rm -f $@; exit 1; }

install: build $(SDK_FILES) $(MANPAGES)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(INCLUDEDIR)/superd \
	    $(DESTDIR)$(PCDIR) $(DESTDIR)$(SDKDIR)/plugin-template $(DESTDIR)$(DOCDIR)/examples \
	    $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man3 \
	    $(DESTDIR)$(CONFDIR)
	install -m 0755 $(BUILD)/superd $(DESTDIR)$(SBINDIR)/superd
	install -m 0755 $(BUILD)/superd-import $(DESTDIR)$(BINDIR)/superd-import
	install -m 0644 docs/superd-import.1 $(DESTDIR)$(MANDIR)/man1/superd-import.1
	install -m 0644 $(PLUGINS) $(DESTDIR)$(PLUGINDIR)/
	install -m 0644 include/superd/plugin.h $(DESTDIR)$(INCLUDEDIR)/superd/plugin.h
	install -m 0644 sdk/fakehost.h $(DESTDIR)$(INCLUDEDIR)/superd/fakehost.h
	install -m 0644 $(BUILD)/libsuperd-fakehost.a $(DESTDIR)$(LIBDIR)/libsuperd-fakehost.a
	install -m 0644 $(BUILD)/superd.pc $(DESTDIR)$(PCDIR)/superd.pc
	install -m 0644 core/exports.list $(DESTDIR)$(SDKDIR)/superd-exports.list
	install -m 0644 $(TEMPLATE) $(DESTDIR)$(SDKDIR)/plugin-template/
	install -m 0644 docs/plugins.md $(DESTDIR)$(DOCDIR)/plugins.md
	install -m 0644 $(EXAMPLES) $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 docs/superd.8 $(DESTDIR)$(MANDIR)/man8/superd.8
	install -m 0644 docs/superd.ini.5 $(DESTDIR)$(MANDIR)/man5/superd.ini.5
	install -m 0644 docs/superd-plugin.3 $(DESTDIR)$(MANDIR)/man3/superd-plugin.3
	@if [ -e $(DESTDIR)$(CONFDIR)/superd.ini ]; then \
	    echo "install: keeping $(DESTDIR)$(CONFDIR)/superd.ini; the example is superd.ini.example"; \
	    install -m 0644 $(BUILD)/superd.ini.installed $(DESTDIR)$(CONFDIR)/superd.ini.example; \
	else \
	    echo "install -m 0644 $(BUILD)/superd.ini.installed $(DESTDIR)$(CONFDIR)/superd.ini"; \
	    install -m 0644 $(BUILD)/superd.ini.installed $(DESTDIR)$(CONFDIR)/superd.ini; \
	fi

uninstall: $(BUILD)/superd.ini.installed
	rm -f $(DESTDIR)$(BINDIR)/superd-import $(DESTDIR)$(MANDIR)/man1/superd-import.1
	rm -f $(DESTDIR)$(SBINDIR)/superd $(addprefix $(DESTDIR)$(PLUGINDIR)/,$(notdir $(PLUGINS))) \
	    $(DESTDIR)$(INCLUDEDIR)/superd/plugin.h $(DESTDIR)$(INCLUDEDIR)/superd/fakehost.h \
	    $(DESTDIR)$(LIBDIR)/libsuperd-fakehost.a $(DESTDIR)$(PCDIR)/superd.pc \
	    $(DESTDIR)$(SDKDIR)/superd-exports.list \
	    $(addprefix $(DESTDIR)$(SDKDIR)/plugin-template/,$(notdir $(TEMPLATE))) \
	    $(DESTDIR)$(DOCDIR)/plugins.md $(addprefix $(DESTDIR)$(DOCDIR)/examples/,$(notdir $(EXAMPLES))) \
	    $(DESTDIR)$(MANDIR)/man8/superd.8 $(DESTDIR)$(MANDIR)/man5/superd.ini.5 \
	    $(DESTDIR)$(MANDIR)/man3/superd-plugin.3 $(DESTDIR)$(CONFDIR)/superd.ini.example
	@if [ -e $(DESTDIR)$(CONFDIR)/superd.ini ]; then \
	    if cmp -s $(BUILD)/superd.ini.installed $(DESTDIR)$(CONFDIR)/superd.ini; then \
	        echo "rm -f $(DESTDIR)$(CONFDIR)/superd.ini"; rm -f $(DESTDIR)$(CONFDIR)/superd.ini; \
	    else \
	        echo "uninstall: keeping $(DESTDIR)$(CONFDIR)/superd.ini: it differs from the example"; \
	    fi; \
	fi
	@rmdir $(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(INCLUDEDIR)/superd $(DESTDIR)$(SDKDIR)/plugin-template \
	    $(DESTDIR)$(SDKDIR) $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) $(DESTDIR)$(CONFDIR) \
	    2>/dev/null || true

# A tiny loopback client for tests/sdk.sh.
$(BUILD)/tests/sdk_client: $(BUILD)/tests/sdk_client.o
	$(CC) $(LDFLAGS) $^ -o $@

# ---- benchmark (bench/README.md); never part of `make test` ----
# make bench-deps     unpack xinetd, openbsd-inetd, inetutils-inetd, ucspi-tcp
#                     into bench/deps/ (apt-get download + dpkg-deb -x)
# make bench          build with -O2, run bench/run.sh, write bench/RESULTS.md
# make bench-profile  callgrind instruction counts, added to bench/RESULTS.md
.PHONY: bench bench-build bench-deps bench-profile
BENCH_BIN := $(BUILD)/bench/loadgen $(BUILD)/bench/refserver

bench:
	@sh scripts/deps.sh
	@$(MAKE) --no-print-directory bench-build SAN=0
	BUILD=$(BUILD) bash bench/run.sh

bench-build: build $(BENCH_BIN)

bench-deps:
	sh bench/deps.sh

bench-profile:
	@sh scripts/deps.sh
	@$(MAKE) --no-print-directory bench-build SAN=0
	BUILD=$(BUILD) bash bench/profile.sh

$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(@D)
	$(CC) -D_GNU_SOURCE -std=c11 $(OPT) -g $(WARN) $(BENCH_SSL_CFLAGS) -MMD -MP $< -o $@ $(BENCH_SSL_LIBS)

# The load generator speaks TLS (tls:// addresses) with OpenSSL.
$(BUILD)/bench/loadgen: BENCH_SSL_CFLAGS = $(SSL_CFLAGS)
$(BUILD)/bench/loadgen: BENCH_SSL_LIBS = $(SSL_LIBS)

# ---- soak test (issue 4, item 9); never part of `make test` ----
# make soak   build, then run $(BUILD)/tests/soak: 5,000 idle, 200 never-read,
#             200 slowloris, a UDP flood and 10,000 connect+close against the
#             real binary on loopback (about a minute); the report is printed and
#             written to $(BUILD)/soak-report.txt, superd's log to
#             $(BUILD)/soak-superd.log.  Exit status 0 only if every verdict holds.
.PHONY: soak
soak:
	@sh scripts/deps.sh
	@$(MAKE) --no-print-directory build $(BUILD)/tests/soak
	$(BUILD)/tests/soak $(BUILD)

$(BUILD)/tests/soak: tests/soak.c
	@mkdir -p $(@D)
	$(CC) -D_GNU_SOURCE -std=c11 $(OPT) -g $(WARN) $(SANFLAGS) -MMD -MP $< -o $@

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
