# mk/fuzz.mk - the libFuzzer targets: make fuzz, make fuzz-ci (included by the Makefile).

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
