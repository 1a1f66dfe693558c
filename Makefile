# Mezzanine: top-level GNU Makefile.
#
# Each directory contributes a `module.mk` fragment that appends to the lists below and
# instantiates the templates of mk/rules.mk (libraries, programs, unit tests, fuzz targets,
# benchmarks). This file only holds the configuration and the user-facing targets.
#
#   make            build everything (libraries, tools, tests)
#   make check      install missing packages, build, run every test; ends "N passed, M failed"
#   make run        install missing packages, build, boot the IGVM image in hvsim (demo guest)
#   make igvm       the Mezzanine IGVM image, $(O)/mezzanine.igvm, and its launch measurements
#   make run-linux  Debian's cloud kernel booting under the paravisor in hvsim (VPS=1; 2 works)
#   make bench      speed and memory measurements, as ratios against peers of the same run
#   make fuzz       each libFuzzer target for FUZZ_LONG_SECONDS
#   make install    PREFIX=/usr/local DESTDIR=
#   make clean
#
# Knobs: O=build (output directory), ARCH=x86_64, FUZZ_SECONDS (per target in check),
# FUZZ_LONG_SECONDS (per target in `make fuzz`), V=1 (show commands), UNICORN_PREFIX (where
# tools/install-deps.sh builds unicorn 2.1.4 with tools/unicorn-patches/; hvsim links it with
# an rpath).

O       ?= build
ARCH    ?= x86_64
PREFIX  ?= /usr/local
DESTDIR ?=
CC      := gcc
CLANG   ?= clang
AR      ?= ar
FUZZ_SECONDS      ?= 10
FUZZ_LONG_SECONDS ?= 300
UNICORN_PREFIX    ?= $(CURDIR)/.deps/unicorn-2.1.4-p1

ifneq ($(ARCH),x86_64)
$(error ARCH=$(ARCH) is not supported yet (x86_64 only; aarch64 later))
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

WARNINGS := -Wall -Wextra -Werror -Wshadow -Wimplicit-fallthrough -Wformat=2 \
            -Wstrict-prototypes -Wmissing-prototypes -Wvla -Wundef
BASE_CFLAGS := -std=c11 -g -D_GNU_SOURCE -I. -fPIC -fno-strict-aliasing $(WARNINGS)
# Normal build: optimised, hardened.
CFLAGS_normal := $(BASE_CFLAGS) -O2 -fstack-protector-strong -D_FORTIFY_SOURCE=2
# Sanitizer build of the same sources: unit tests run again under ASan+UBSan.
SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS_asan := $(BASE_CFLAGS) -O1 $(SAN)
LDFLAGS_asan := $(SAN)
# libFuzzer build (clang).
FUZZSAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS_fuzz := $(BASE_CFLAGS) -O1 -Wno-unknown-warning-option -fsanitize=fuzzer-no-link $(FUZZSAN)
LDFLAGS_fuzz := -fsanitize=fuzzer $(FUZZSAN)

CC_normal := $(CC)
CC_asan   := $(CC)
CC_fuzz   := $(CLANG)

# Lists filled by the module fragments.
LIBS :=
PROGS :=
UNIT_TESTS :=
SCRIPT_TESTS :=
FUZZ_TARGETS :=
# Fuzz targets built and run by `make fuzz` but not by `make check` (each says why where it
# adds itself).
FUZZ_CHECK_SKIP :=
BENCHES :=
BENCH_SCRIPTS :=
INSTALL_TARGETS :=
EXTRA_ALL :=

.DEFAULT_GOAL := all
include mk/rules.mk
include $(sort $(wildcard */module.mk */*/module.mk */*/*/module.mk))

ALL_LIB_FILES := $(foreach l,$(LIBS),$(O)/lib/lib$(l).a)
ALL_PROG_FILES := $(foreach p,$(PROGS),$(O)/bin/$(p))
ALL_TEST_FILES := $(foreach t,$(UNIT_TESTS),$(O)/tests/$(t) $(O)/asan/tests/$(t))
ALL_ASAN_PROGS := $(foreach p,$(PROGS),$(O)/asan/bin/$(p))
ALL_FUZZ_FILES := $(foreach f,$(FUZZ_TARGETS),$(O)/fuzz/bin/$(f))
empty :=
space := $(empty) $(empty)
comma := ,
# name:seeddir,seeddir ... for tests/run-tests.sh
FUZZ_SPECS := $(foreach f,$(filter-out $(FUZZ_CHECK_SKIP),$(FUZZ_TARGETS)),$(f):$(subst $(space),$(comma),$(strip $(FUZZ_SEEDS_$(f)))))
FUZZ_SPECS_ALL := $(foreach f,$(FUZZ_TARGETS),$(f):$(subst $(space),$(comma),$(strip $(FUZZ_SEEDS_$(f)))))
ALL_BENCH_FILES := $(foreach b,$(BENCHES),$(O)/bench/$(b))

.PHONY: all deps build-all build-check check run run-linux bench fuzz install clean
all: $(ALL_LIB_FILES) $(ALL_PROG_FILES) $(EXTRA_ALL)

deps:
	$(Q)UNICORN_PREFIX="$(UNICORN_PREFIX)" tools/install-deps.sh

# check/run/bench install packages (and the unicorn prefix) first, then re-enter make so that
# pkg-config answers for the freshly installed packages.
check: deps
	$(Q)$(MAKE) --no-print-directory build-check
	$(Q)O="$(O)" FUZZ_SECONDS="$(FUZZ_SECONDS)" tests/run-tests.sh \
	  --unit "$(UNIT_TESTS)" --scripts "$(SCRIPT_TESTS)" --fuzz "$(FUZZ_SPECS)"

build-check: all $(ALL_TEST_FILES) $(ALL_ASAN_PROGS) $(ALL_FUZZ_FILES)

# The main job: the Mezzanine IGVM image (`make igvm`: shim, Debian's kernel as the stand-in
# VTL2 kernel, the paravisor's initramfs) booted in hvsim, then the bundled demo guest in VTL0
# under the paravisor (tools/mezz-sim/module.mk defines MEZZ_SIM_IGVM_DEMO).
RUN_MAIN = $(MEZZ_SIM_IGVM_DEMO)

run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory igvm
	$(Q)$(RUN_MAIN)

# Debian's cloud kernel (fetched, never committed) under the paravisor in hvsim with VPS VPs
# (default 1; VPS=2 boots both CPUs, which the kernel starts with INIT/SIPI): boot log, the
# initramfs lines, the exit summary.
VPS ?= 1
run-linux: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)O="$(O)" tools/linux-guest.sh
	$(Q)$(O)/bin/mezz-sim run --kernel $(O)/linux/vmlinuz --initrd $(O)/linux/initrd.img \
	  --cmdline "console=ttyS0 panic=-1" --mem 512M --vtl2-mem 16M --vps $(VPS) --timeout 300

bench: deps
	$(Q)$(MAKE) --no-print-directory all $(ALL_BENCH_FILES)
	$(Q)O="$(O)" tests/run-bench.sh $(foreach b,$(BENCHES),$(O)/bench/$(b)) $(BENCH_SCRIPTS)

fuzz: deps
	$(Q)$(MAKE) --no-print-directory $(ALL_FUZZ_FILES)
	$(Q)O="$(O)" FUZZ_SECONDS="$(FUZZ_LONG_SECONDS)" tests/run-tests.sh --fuzz "$(FUZZ_SPECS_ALL)"

install: all $(INSTALL_TARGETS)
	$(Q)install -d $(DESTDIR)$(PREFIX)/bin
	$(Q)for p in $(ALL_PROG_FILES); do install -m 0755 $$p $(DESTDIR)$(PREFIX)/bin/; done

clean:
	rm -rf $(O)
