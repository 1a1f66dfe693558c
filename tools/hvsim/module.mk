# tools/hvsim/: the simulated hypervisor (library hvsim) and the kif seam on top of it
# (library kif_sim). Consumers link `kif_sim $(HVSIM_LIBS)` with LDLIBS `$(HVSIM_LDLIBS)`.
# hvsim encodes intercept messages with hvcall's hv_exit_encode, hence hvcall in HVSIM_LIBS;
# it decodes VTL0 instructions with the project's decoder and walks guest page tables with the
# page walker, both in library x86 (third-party decoders are test oracles only, never linked).

HVSIM_LIBS := hvsim hvcall x86
HVSIM_LDLIBS := $(shell pkg-config --libs unicorn 2>/dev/null || echo -lunicorn) -lpthread

hvsim_SRCS := tools/hvsim/hvsim.c tools/hvsim/hvsim_vp.c tools/hvsim/hvsim_exc.c \
              tools/hvsim/hvsim_special.c tools/hvsim/hvsim_hv.c \
              tools/hvsim/hvsim_synic.c
$(eval $(call mezz_lib,hvsim))

kif_sim_SRCS := tools/hvsim/kif_sim.c vtl2/kif_allow.c
$(eval $(call mezz_lib,kif_sim))

hvsim_vp_test_SRCS := tests/unit/hvsim_vp_test.c
hvsim_vp_test_LIBS := $(HVSIM_LIBS)
hvsim_vp_test_LDLIBS := $(HVSIM_LDLIBS) -lcmocka
$(eval $(call mezz_test,hvsim_vp_test))

hvsim_hv_test_SRCS := tests/unit/hvsim_hv_test.c
hvsim_hv_test_LIBS := kif_sim $(HVSIM_LIBS)
hvsim_hv_test_LDLIBS := $(HVSIM_LDLIBS) -lcmocka
$(eval $(call mezz_test,hvsim_hv_test))

# Fuzz targets: hostile hypercall inputs and hostile VTL0 code.
hvsim_hvcall_fuzz_SRCS := tests/fuzz/hvsim_hvcall_fuzz.c
hvsim_hvcall_fuzz_LIBS := $(HVSIM_LIBS)
hvsim_hvcall_fuzz_LDLIBS := $(HVSIM_LDLIBS)
$(eval $(call mezz_fuzz,hvsim_hvcall_fuzz))

hvsim_guest_fuzz_SRCS := tests/fuzz/hvsim_guest_fuzz.c
hvsim_guest_fuzz_LIBS := $(HVSIM_LIBS)
hvsim_guest_fuzz_LDLIBS := $(HVSIM_LDLIBS)
$(eval $(call mezz_fuzz,hvsim_guest_fuzz))

# unicorn 2.0.1's translator aborts the whole process on some encodings before any hook runs
# (docs/hvsim.md); the guest-code fuzzer filters the known ones, but a new one would make
# `make check` flaky. It runs in `make fuzz` only.
FUZZ_CHECK_SKIP += hvsim_guest_fuzz
