# mk/sdk.mk - installation and the plugin SDK: make install, uninstall, sdk (included by the Makefile).

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
