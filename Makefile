# twkit — plain GNU Makefile.
#
# Sources are discovered by folder, so adding a module never means editing
# this file:
#   lib/*.c                 -> libtwkit.a, libtwkit.so (public API: include/twkit)
#   twx/*.c                 -> libtwx.a: the internal tier (never installed),
#                              linked by the command, tests, helpers, benches
#                              and fuzzers; the modules in TWX_IN_LIB are also
#                              compiled into libtwkit (hidden)
#   src/*.c                 -> the twkit command (links libtwkit.a)
#   tests/unit/test_*.c     -> one Criterion binary each
#   tests/helpers/*.c       -> one helper program each (used by integration tests)
#   tests/integration/*.sh  -> run by tests/run
#   bench/*.c               -> one benchmark helper each; bench/*.sh run by `make bench`
#                              (bench/*_soak.sh only with SOAK=1)
#   fuzz/fuzz_*.c           -> one libFuzzer harness each (clang)
#   bpf/*.bpf.c             -> eBPF objects and libbpf skeletons (bpf/build.mk)
#   examples/*.c            -> one example program each
#   docs/*.scd              -> man pages (scdoc)
#
# The sub-makes that `make run/test/check/tsan/fuzz/bench` start build with
# JOBS parallel jobs (default: one per CPU).
#
# Quiet unless V=1.  Out-of-tree objects in $(OUT) (default .build).
# `make check` rebuilds everything in .build/san with ASan+UBSan and runs
# the same test suite.

VERSION   := 0.1.0
SOVERSION := 0
OUT       ?= .build
PREFIX    ?= /usr/local
DESTDIR   ?=
SAN       ?=
JOBS      ?= $(shell nproc 2>/dev/null || echo 1)
SUBMAKE   := $(MAKE) --no-print-directory -j$(JOBS)

CC        ?= cc
CFLAGS    ?= -O2 -g
WARN      := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
             -Wmissing-prototypes -Wno-unused-parameter
# pkg-config packages, one per line (scripts/install-deps installs them).
DEPS_PKGS := libmnl jansson ncursesw libmicrohttpd gnutls yaml-0.1 libcrypt
# The eBPF toolchain decides whether bpf/*.bpf.c are built (BPF=auto|0|1)
# and, when they are, adds libbpf here.
BPF_PHASE := config
include bpf/build.mk
# what a static link of libtwkit needs (libbpf: the BPF socket source, lib/src_bpf.c)
PC_REQUIRES := libmnl$(if $(filter 1,$(BPF_ON)), libbpf)
PKG_CFLAGS := $(shell pkg-config --cflags $(DEPS_PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(DEPS_PKGS) 2>/dev/null || echo -lmnl -ljansson -lncursesw -ltinfo -lmicrohttpd -lgnutls -lyaml -lcrypt)
CRIT_LIBS  := $(shell pkg-config --libs criterion 2>/dev/null || echo -lcriterion)

ifneq ($(SAN),)
SANFLAGS  := -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

ALL_CPPFLAGS := -Iinclude -Ilib -I. -D_GNU_SOURCE -DTW_VERSION=\"$(VERSION)\" $(CPPFLAGS)
ALL_CFLAGS   := -std=gnu11 $(WARN) $(CFLAGS) $(SANFLAGS) $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LIB_CFLAGS   := $(ALL_CFLAGS) -fPIC -fvisibility=hidden -DTW_BUILDING_LIB
ALL_LDFLAGS  := $(SANFLAGS) $(LDFLAGS)
LDLIBS       := $(PKG_LIBS) -lpthread -lm

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-7s %s\n' $(1) $(2)
endif

TWX_SRC     := $(wildcard twx/*.c)
TWX_OBJ     := $(TWX_SRC:%.c=$(OUT)/%.o)
TWX_IN_LIB  := twx/clock.c twx/file.c twx/bpfcaps.c
LIB_SRC     := $(wildcard lib/*.c)
LIB_OBJ     := $(LIB_SRC:%.c=$(OUT)/%.o) $(TWX_IN_LIB:%.c=$(OUT)/lib/%.o)
CLI_SRC     := $(wildcard src/*.c src/*/*.c)
CLI_OBJ     := $(CLI_SRC:%.c=$(OUT)/%.o)
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
UNIT_BIN    := $(UNIT_SRC:tests/unit/%.c=$(OUT)/tests/%)
HELPER_SRC  := $(wildcard tests/helpers/*.c)
HELPER_BIN  := $(HELPER_SRC:tests/helpers/%.c=$(OUT)/helpers/%)
BENCH_SRC   := $(wildcard bench/*.c)
BENCH_BIN   := $(BENCH_SRC:bench/%.c=$(OUT)/bench/%)
EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLE_BIN := $(EXAMPLE_SRC:examples/%.c=$(OUT)/examples/%)
FUZZ_SRC    := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN    := $(FUZZ_SRC:fuzz/%.c=$(OUT)/fuzz/%)
MAN_SRC     := $(wildcard docs/*.scd)
MAN_OUT     := $(patsubst docs/%.scd,$(OUT)/man/%,$(MAN_SRC))

STATIC_LIB  := $(OUT)/libtwkit.a
TWX_LIB     := $(OUT)/libtwx.a
LINK_LIBS   := $(TWX_LIB) $(STATIC_LIB)
SHARED_LIB  := $(OUT)/libtwkit.so.$(VERSION)
TWKIT       := $(OUT)/twkit
PC_FILE     := $(OUT)/twkit.pc
MKDOC       := $(OUT)/tools/mkdoc

.DELETE_ON_ERROR:
.PHONY: all run test check bench fuzz fuzz-build install uninstall clean deps man tsan docs

all: $(STATIC_LIB) $(SHARED_LIB) $(TWKIT) $(PC_FILE) $(HELPER_BIN) $(EXAMPLE_BIN) $(MKDOC) man

man: $(MAN_OUT)

# `make docs`: rewrite the generated parts of docs/*.scd (OPTIONS from each
# command's option table, the command list and exit-status table of
# twkit(1)).  tests/integration/docs_options.sh fails when they are stale.
docs: $(MKDOC)
	$(Q)$(MKDOC) sync docs

deps:
	$(Q)scripts/install-deps -q

# `make run`: build and show this host's picture.
run: deps
	$(Q)$(SUBMAKE) all
	$(Q)$(TWKIT) stat

# `make test`: every test (unit + integration).  Root-only tests SKIP with a
# reason when not root.
test: deps
	$(Q)$(SUBMAKE) all $(UNIT_BIN) $(BENCH_BIN)
	$(Q)OUT=$(OUT) tests/run

# `make check`: the same suite under AddressSanitizer + UndefinedBehaviorSanitizer.
check: deps
	$(Q)$(SUBMAKE) OUT=.build/san SAN=address,undefined all
	$(Q)$(SUBMAKE) OUT=.build/san SAN=address,undefined \
		.build/san/libtwkit.a $(UNIT_SRC:tests/unit/%.c=.build/san/tests/%) \
		$(BENCH_SRC:bench/%.c=.build/san/bench/%)
	$(Q)OUT=.build/san TW_SANITIZED=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 tests/run

# `make tsan`: the thread-safety suite (the connection pool) under
# ThreadSanitizer.  Criterion itself cannot start under TSan (Criterion
# issue #274), so test_pool carries its own runner in TSan builds.
TSAN_SUITES := test_pool
tsan: deps
	$(Q)$(SUBMAKE) OUT=.build/tsan SAN=thread \
		$(TSAN_SUITES:%=.build/tsan/tests/%) .build/tsan/helpers/pool_faultd
	$(Q)for s in $(TSAN_SUITES); do OUT=.build/tsan TW_SANITIZED=1 TW_TSAN=1 tests/run unit $$s || exit 1; done

# bench/*_soak.sh are long soak checks (bench/live_soak.sh: 10 minutes):
# `make bench` runs them only with SOAK=1.
bench: deps
	$(Q)$(SUBMAKE) all $(BENCH_BIN)
	$(Q)for b in bench/*.sh; do \
		case $$b in *_soak.sh) [ -n "$(SOAK)" ] || { echo "$$b: not run (a soak check: make bench SOAK=1, or bash $$b)"; continue; } ;; esac; \
		OUT=$(OUT) bash $$b || exit 1; done

fuzz: deps
	$(Q)$(SUBMAKE) OUT=.build/fuzz CC=clang \
		CFLAGS="-O1 -g" SAN=fuzzer,address,undefined fuzz-build
	$(Q)scripts/fuzz-smoke .build/fuzz

fuzz-build: $(FUZZ_BIN)

# ---- library --------------------------------------------------------------

$(OUT)/lib/%.o: lib/%.c
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CPPFLAGS) $(LIB_CFLAGS) -MMD -MP -c -o $@ $<

$(OUT)/lib/twx/%.o: twx/%.c
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CPPFLAGS) $(LIB_CFLAGS) -MMD -MP -c -o $@ $<

$(OUT)/twx/%.o: twx/%.c
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(TWX_LIB): $(TWX_OBJ)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(STATIC_LIB): $(LIB_OBJ)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(SHARED_LIB): $(LIB_OBJ)
	$(call msg,LD,$@)
	$(Q)$(CC) -shared -Wl,-soname,libtwkit.so.$(SOVERSION) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)
	$(Q)ln -sf libtwkit.so.$(VERSION) $(OUT)/libtwkit.so.$(SOVERSION)
	$(Q)ln -sf libtwkit.so.$(VERSION) $(OUT)/libtwkit.so

$(PC_FILE): twkit.pc.in Makefile
	$(call msg,GEN,$@)
	@mkdir -p $(@D)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
		-e 's|@REQUIRES_PRIVATE@|$(PC_REQUIRES)|g' $< > $@

# ---- the command, tests, helpers, benches, examples -------------------------

$(OUT)/src/%.o: src/%.c
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CPPFLAGS) -Isrc $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(TWKIT): $(CLI_OBJ) $(LINK_LIBS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(CLI_OBJ) $(LINK_LIBS) $(LDLIBS)

$(OUT)/tests/%: tests/unit/%.c $(LINK_LIBS)
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -Wno-missing-prototypes -MMD -MP -o $@ $< $(LINK_LIBS) $(CRIT_LIBS) $(LDLIBS)

# A unit test of one of the lab's own modules, test_lab_<m>.c, also links
# that module's object, src/lab/<m>.o.
$(OUT)/tests/test_lab_%: tests/unit/test_lab_%.c $(OUT)/src/lab/%.o $(LINK_LIBS)
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CPPFLAGS) -Isrc $(ALL_CFLAGS) -Wno-missing-prototypes -MMD -MP -o $@ $< \
		$(OUT)/src/lab/$*.o $(LINK_LIBS) $(CRIT_LIBS) $(LDLIBS)

$(OUT)/helpers/%: tests/helpers/%.c $(LINK_LIBS)
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -o $@ $< $(LINK_LIBS) $(LDLIBS)

$(OUT)/bench/%: bench/%.c $(LINK_LIBS)
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -o $@ $< $(LINK_LIBS) $(LDLIBS)

$(OUT)/examples/%: examples/%.c $(STATIC_LIB)
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -MMD -MP -o $@ $< $(STATIC_LIB) $(LDLIBS)

$(OUT)/fuzz/%: fuzz/%.c $(LIB_SRC) $(TWX_SRC)
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) -Wno-missing-prototypes -o $@ $< $(LIB_SRC) $(TWX_SRC) $(LDLIBS)

$(OUT)/man/%: docs/%.scd
	$(call msg,SCDOC,$<)
	@mkdir -p $(@D)
	$(Q)scdoc < $< > $@

$(MKDOC): tools/mkdoc.c $(filter-out $(OUT)/src/main.o,$(CLI_OBJ)) $(LINK_LIBS)
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CPPFLAGS) -Isrc $(ALL_CFLAGS) -MMD -MP -o $@ $< \
		$(filter-out $(OUT)/src/main.o,$(CLI_OBJ)) $(LINK_LIBS) $(LDLIBS)

# ---- install --------------------------------------------------------------

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
		$(DESTDIR)$(PREFIX)/include/twkit $(DESTDIR)$(PREFIX)/share/man/man1 \
		$(DESTDIR)$(PREFIX)/share/man/man3
	install -m 755 $(TWKIT) $(DESTDIR)$(PREFIX)/bin/twkit
	install -m 644 $(STATIC_LIB) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(SHARED_LIB) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libtwkit.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libtwkit.so.$(SOVERSION)
	ln -sf libtwkit.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libtwkit.so
	install -m 644 include/twkit/*.h $(DESTDIR)$(PREFIX)/include/twkit/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' \
		-e 's|@REQUIRES_PRIVATE@|$(PC_REQUIRES)|g' twkit.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/twkit.pc
	for m in $(MAN_OUT); do s=$${m##*.}; install -d $(DESTDIR)$(PREFIX)/share/man/man$$s; \
		install -m 644 $$m $(DESTDIR)$(PREFIX)/share/man/man$$s/; done

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/twkit $(DESTDIR)$(PREFIX)/lib/libtwkit.* \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig/twkit.pc
	rm -rf $(DESTDIR)$(PREFIX)/include/twkit

clean:
	rm -rf .build

# ---- eBPF programs (after `all`, which stays the default goal) -------------

BPF_PHASE := rules
include bpf/build.mk

-include $(shell find $(OUT) -name '*.d' 2>/dev/null)
