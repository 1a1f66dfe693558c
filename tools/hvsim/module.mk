# tools/hvsim/: the simulated hypervisor (library hvsim) and the kif seam on top of it
# (library kif_sim). Consumers link `kif_sim $(HVSIM_LIBS)` with LDLIBS `$(HVSIM_LDLIBS)`.
# hvsim encodes intercept messages with hvcall's hv_exit_encode, hence hvcall in HVSIM_LIBS;
# it decodes VTL0 instructions with the project's decoder and walks guest page tables with the
# page walker, both in library x86 (third-party decoders are test oracles only, never linked).
# The host's VMBus (hvsim_vmbus.c) is the project's vmbus_server with the storvsp disk: library
# vmbus (and devices, vtl2 below it) after hvsim.

HVSIM_LIBS := hvsim vmbus devices vtl2 igvm hvcall x86
# unicorn 2.1.4 built with tools/unicorn-patches/ into the prefix tools/install-deps.sh fills
# (`make deps`; check/run/bench/fuzz do it first), never Debian's 2.0.1 nor the unpatched
# release (docs/hvsim.md, "Which unicorn"). The rpath lets every flavour run without
# LD_LIBRARY_PATH; -isystem keeps its headers out of -Werror like a system header.
UNICORN_CFLAGS := -isystem $(UNICORN_PREFIX)/include
HVSIM_LDLIBS := -L$(UNICORN_PREFIX)/lib -Wl,-rpath,$(UNICORN_PREFIX)/lib -lunicorn -lpthread -lfdt \
                -lmbedcrypto
ifeq ($(wildcard $(UNICORN_PREFIX)/include/unicorn/unicorn.h),)
ifeq ($(filter deps check run bench fuzz clean,$(MAKECMDGOALS)),)
$(warning unicorn 2.1.4 is not in $(UNICORN_PREFIX): run `make deps` (tools/install-deps.sh) first)
endif
endif

hvsim_SRCS := tools/hvsim/hvsim.c tools/hvsim/hvsim_vp.c tools/hvsim/hvsim_exc.c \
              tools/hvsim/hvsim_special.c tools/hvsim/hvsim_hv.c \
              tools/hvsim/hvsim_synic.c tools/hvsim/hvsim_synth.c tools/hvsim/hvsim_apic.c \
              tools/hvsim/hvsim_ring.c tools/hvsim/hvsim_xmod.c tools/hvsim/hvsim_vmbus.c \
              tools/hvsim/hvsim_igvm.c
hvsim_CFLAGS := $(UNICORN_CFLAGS)
$(eval $(call mezz_lib,hvsim))
# Objects built against other unicorn headers (an older build dir) are rebuilt once the prefix
# is (re)installed: its stamp is newer than they are.
UNICORN_STAMP := $(wildcard $(UNICORN_PREFIX)/SOURCE_SHA256)
$(foreach f,$(FLAVOURS),$(call mezz_objs,$(f),$(hvsim_SRCS))): $(UNICORN_STAMP)

kif_sim_SRCS := tools/hvsim/kif_sim.c vtl2/kif_allow.c
$(eval $(call mezz_lib,kif_sim))

hvsim_vp_test_SRCS := tests/unit/hvsim_vp_test.c
hvsim_vp_test_LIBS := $(HVSIM_LIBS)
hvsim_vp_test_LDLIBS := $(HVSIM_LDLIBS) -lcmocka
$(eval $(call mezz_test,hvsim_vp_test))

# The LOCK prefix on the patched unicorn itself (uc_* calls only, no hvsim).
hvsim_lock_test_SRCS := tests/unit/hvsim_lock_test.c
hvsim_lock_test_CFLAGS := $(UNICORN_CFLAGS)
hvsim_lock_test_LDLIBS := $(HVSIM_LDLIBS) -lcmocka
$(eval $(call mezz_test,hvsim_lock_test))
$(foreach f,$(FLAVOURS),$(call mezz_objs,$(f),$(hvsim_lock_test_SRCS))): $(UNICORN_STAMP)

# Write tracking of code pages on the patched unicorn itself (uc_* calls only, no hvsim).
hvsim_smc_test_SRCS := tests/unit/hvsim_smc_test.c
hvsim_smc_test_CFLAGS := $(UNICORN_CFLAGS)
hvsim_smc_test_LDLIBS := $(HVSIM_LDLIBS) -lcmocka
$(eval $(call mezz_test,hvsim_smc_test))
$(foreach f,$(FLAVOURS),$(call mezz_objs,$(f),$(hvsim_smc_test_SRCS))): $(UNICORN_STAMP)

hvsim_apic_test_SRCS := tests/unit/hvsim_apic_test.c
hvsim_apic_test_LIBS := $(HVSIM_LIBS)
hvsim_apic_test_LDLIBS := $(HVSIM_LDLIBS) -lcmocka
$(eval $(call mezz_test,hvsim_apic_test))

hvsim_hv_test_SRCS := tests/unit/hvsim_hv_test.c
hvsim_hv_test_LIBS := kif_sim $(HVSIM_LIBS)
hvsim_hv_test_LDLIBS := $(HVSIM_LDLIBS) -lcmocka
$(eval $(call mezz_test,hvsim_hv_test))

hvsim_time_test_SRCS := tests/unit/hvsim_time_test.c
hvsim_time_test_LIBS := $(HVSIM_LIBS)
hvsim_time_test_LDLIBS := $(HVSIM_LDLIBS) -lcmocka
$(eval $(call mezz_test,hvsim_time_test))

hvsim_vmbus_test_SRCS := tests/unit/hvsim_vmbus_test.c
hvsim_vmbus_test_LIBS := $(HVSIM_LIBS)
hvsim_vmbus_test_LDLIBS := $(HVSIM_LDLIBS) -lcmocka
$(eval $(call mezz_test,hvsim_vmbus_test))

# Fuzz targets: hostile hypercall inputs, hostile VTL0 code, hostile VTL2 toward the host VMBus.
hvsim_hvcall_fuzz_SRCS := tests/fuzz/hvsim_hvcall_fuzz.c
hvsim_hvcall_fuzz_LIBS := $(HVSIM_LIBS)
hvsim_hvcall_fuzz_LDLIBS := $(HVSIM_LDLIBS)
$(eval $(call mezz_fuzz,hvsim_hvcall_fuzz))

hvsim_guest_fuzz_SRCS := tests/fuzz/hvsim_guest_fuzz.c
hvsim_guest_fuzz_LIBS := $(HVSIM_LIBS)
hvsim_guest_fuzz_LDLIBS := $(HVSIM_LDLIBS)
$(eval $(call mezz_fuzz,hvsim_guest_fuzz))

hvsim_vmbus_fuzz_SRCS := tests/fuzz/hvsim_vmbus_fuzz.c
hvsim_vmbus_fuzz_LIBS := $(HVSIM_LIBS)
hvsim_vmbus_fuzz_LDLIBS := $(HVSIM_LDLIBS)
$(eval $(call mezz_fuzz,hvsim_vmbus_fuzz))

# The host loader's part for IGVM images, host port devices, VP breakpoints.
hvsim_igvm_test_SRCS := tests/unit/hvsim_igvm_test.c
hvsim_igvm_test_LIBS := $(HVSIM_LIBS)
hvsim_igvm_test_LDLIBS := $(HVSIM_LDLIBS) -lcmocka
$(eval $(call mezz_test,hvsim_igvm_test))

# Hostile IGVM files into hvsim's loader (NATIVE or VBS), nothing run.
hvsim_igvm_fuzz_SRCS := tests/fuzz/hvsim_igvm_fuzz.c
hvsim_igvm_fuzz_LIBS := $(HVSIM_LIBS)
hvsim_igvm_fuzz_LDLIBS := $(HVSIM_LDLIBS)
hvsim_igvm_fuzz_SEEDS := tests/fuzz/seeds/hvsim_igvm
$(eval $(call mezz_fuzz,hvsim_igvm_fuzz))
