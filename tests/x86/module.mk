# tests/x86/: differential (native CPU), oracle (Zydis), fuzz and benchmark for the x86
# decoder/emulator (library x86 of arch/x86_64/module.mk). The targets are registered only once
# that library exists: arch/x86_64/module.mk sorts before this file, so LIBS already names it.
ifneq ($(filter x86,$(LIBS)),)

x86_diff_test_SRCS := tests/unit/x86_diff_test.c
x86_diff_test_LIBS := x86
x86_diff_test_LDLIBS := -lcmocka
$(eval $(call mezz_test,x86_diff_test))

x86_zydis_test_SRCS := tests/unit/x86_zydis_test.c
x86_zydis_test_LIBS := x86
x86_zydis_test_LDLIBS := -lcmocka -lZydis
$(eval $(call mezz_test,x86_zydis_test))

x86_emu_fuzz_SRCS := tests/fuzz/x86_emu_fuzz.c
x86_emu_fuzz_LIBS := x86
x86_emu_fuzz_SEEDS := tests/fuzz/seeds/x86_emu
$(eval $(call mezz_fuzz,x86_emu_fuzz))

x86_bench_SRCS := tests/bench/x86_bench.c
x86_bench_LIBS := x86
x86_bench_LDLIBS := -lZydis -lcapstone
$(eval $(call mezz_bench,x86_bench))
BENCH_SCRIPTS += tests/bench/x86_icount.sh

endif
