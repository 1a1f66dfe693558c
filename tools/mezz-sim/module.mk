# tools/mezz-sim/: `mezz-sim run --guest ELF`: hvsim + the Mezzanine paravisor (vtl2 core and
# devices, assembled by tools/mezzanine/vm.c) running VTL0 guests. Also the ELF loader's unit
# test and fuzz target, the end-to-end guest script and the hvsim benchmark.

elf_load_test_SRCS := tests/unit/elf_load_test.c tools/mezz-sim/elf_load.c
elf_load_test_LDLIBS := -lcmocka
$(eval $(call mezz_test,elf_load_test))

elf_load_fuzz_SRCS := tests/fuzz/elf_load_fuzz.c tools/mezz-sim/elf_load.c
elf_load_fuzz_SEEDS := tests/fuzz/seeds/elf_load
$(eval $(call mezz_fuzz,elf_load_fuzz))

# The command needs the simulator (tools/hvsim/module.mk, included before this fragment, sets
# HVSIM_LIBS/HVSIM_LDLIBS), the vpreg library (vtl2/, included after: test for its source),
# hvcall and x86; while they are not there yet, only the parts above are built.
MEZZ_SIM_SRCS := tools/mezz-sim/mezz_sim.c tools/mezzanine/vm.c tools/mezz-sim/elf_load.c \
                 tools/mezz-sim/vtl2_boot.c
MEZZ_SIM_LIBS := vmbus devices vtl2 kif_sim $(HVSIM_LIBS) hvcall x86
MEZZ_SIM_LDLIBS := $(HVSIM_LDLIBS)
ifneq ($(and $(HVSIM_LIBS),$(wildcard tools/hvsim/kif_sim.c),$(wildcard vtl2/vpreg.c),$(wildcard hvcall/hv_call.c),$(wildcard arch/x86_64/x86_emu.c)),)
mezz-sim_SRCS := $(MEZZ_SIM_SRCS)
mezz-sim_LIBS := $(MEZZ_SIM_LIBS)
mezz-sim_LDLIBS := $(MEZZ_SIM_LDLIBS)
$(eval $(call mezz_prog,mezz-sim))

# `make run` (RUN_MAIN in the Makefile): the Mezzanine IGVM image (`make igvm`) boots in
# hvsim - host loader, boot shim in VTL2, the VTL2 kernel's check of the handover, the
# paravisor configured from the shim's device tree - and runs the demo guest in VTL0 on 2 VPs.
MEZZ_SIM_DEMO := $(O)/bin/mezz-sim run --guest $(O)/guests/demo.elf --vps 2
MEZZ_SIM_IGVM_DEMO := $(O)/bin/mezz-sim run --igvm $(O)/mezzanine.igvm --guest $(O)/guests/demo.elf --vps 2
EXTRA_ALL += $(O)/bin/mezz-sim $(O)/guests/demo.elf

SCRIPT_TESTS += tests/guests/run-guests.sh tests/guests/run-linux.sh tests/guests/run-linux-vmbus.sh \
	tests/guests/run-igvm.sh


# `make bench`: hvsim guest instructions/s and exits/s vs raw unicorn; Debian's kernel booting
# to its initramfs marker vs QEMU TCG.
BENCH_SCRIPTS += tests/bench/vtl2_icount.sh tests/bench/linux_boot.sh tests/bench/igvm_boot.sh
hvsim_bench_SRCS := tests/bench/hvsim_bench.c tools/mezzanine/vm.c tools/mezz-sim/elf_load.c
hvsim_bench_LIBS := $(MEZZ_SIM_LIBS)
hvsim_bench_LDLIBS := $(MEZZ_SIM_LDLIBS)
hvsim_bench_CFLAGS := $(UNICORN_CFLAGS)
$(eval $(call mezz_bench,hvsim_bench))
$(call mezz_objs,normal,tests/bench/hvsim_bench.c): $(UNICORN_STAMP)
endif
