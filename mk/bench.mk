# mk/bench.mk - the benchmark and the soak test; never part of make test (included by the Makefile).

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
