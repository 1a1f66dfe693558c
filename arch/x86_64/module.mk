# arch/x86_64/: instruction decoder, emulator and guest page walker (library x86).
x86_SRCS := arch/x86_64/x86_decode.c arch/x86_64/x86_emu.c $(wildcard arch/x86_64/x86_pagewalk.c)
$(eval $(call mezz_lib,x86))

# Focused unit tests of the decoder and emulator (hand-written cases, every fault path).
x86_emu_test_SRCS := tests/unit/x86_emu_test.c
x86_emu_test_LIBS := x86
x86_emu_test_LDLIBS := -lcmocka
$(eval $(call mezz_test,x86_emu_test))
