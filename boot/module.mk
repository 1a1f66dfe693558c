# boot/: the freestanding VTL2 boot shim (mezz-shim.elf) and the TDX reset page.
#
# The parsing and building code (shim_*.c except shim_main.c) also compiles hosted as the
# library `boot` (normal/asan/fuzz flavours) for the unit tests (tests/unit/boot_*_test.c) and
# the fuzzer (tests/fuzz/boot_*_fuzz.c). The shim ELF links the same sources compiled
# freestanding, plus entry.S, shim_main.c, rt.c and Debian's libfdt.a.
BOOT_HOSTED_SRCS := $(filter-out boot/shim_main.c boot/rt.c,$(sort $(wildcard boot/*.c)))

boot_SRCS := $(BOOT_HOSTED_SRCS)
$(eval $(call mezz_lib,boot))

# ---- freestanding shim ----
BOOT_LIBFDT_A ?= /usr/lib/x86_64-linux-gnu/libfdt.a
BOOT_FS_CFLAGS := -std=c11 -g -O2 -I. -ffreestanding -fno-pic -fno-pie -mcmodel=small \
	-mno-red-zone -mno-sse -mno-mmx -mno-80387 -mgeneral-regs-only -fno-stack-protector \
	-fno-asynchronous-unwind-tables -fno-unwind-tables -fno-builtin -fno-strict-aliasing \
	-fcf-protection=none -fno-jump-tables -fno-tree-loop-distribute-patterns -DMEZZ_SHIM_FREESTANDING=1 $(WARNINGS)
BOOT_FS_LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none -Wl,-z,noexecstack \
	-Wl,-z,max-page-size=4096 -Wl,-T,boot/shim.ld
BOOT_FS_SRCS := $(BOOT_HOSTED_SRCS) boot/shim_main.c boot/rt.c
BOOT_FS_OBJS := $(patsubst boot/%.c,$(O)/boot/obj/%.o,$(BOOT_FS_SRCS)) $(O)/boot/obj/entry.o
BOOT_SHIM_ELF := $(O)/boot/mezz-shim.elf
BOOT_TDX_RESET := $(O)/boot/mezz-tdx-reset.bin
EXTRA_ALL += $(BOOT_SHIM_ELF) $(BOOT_TDX_RESET)

$(O)/boot/obj/%.o: boot/%.c
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC[shim] $<")
	$(Q)$(CC) $(BOOT_FS_CFLAGS) -MMD -MP -c $< -o $@

$(O)/boot/obj/%.o: boot/%.S
	@mkdir -p $(@D)
	$(if $(Q),@echo "  AS[shim] $<")
	$(Q)$(CC) -I. -D__ASSEMBLY__ -MMD -MP -c $< -o $@

$(BOOT_SHIM_ELF): $(BOOT_FS_OBJS) boot/shim.ld boot/shim_link.h
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD[shim] $@")
	$(Q)test "$$(sed -n 's/^MEZZ_SHIM_LINK_ADDR = \(0x[0-9a-fA-F]*\);.*/\1/p' boot/shim.ld)" = \
	  "$$(sed -n 's/^#define MEZZ_SHIM_LINK_ADDR \(0x[0-9a-fA-F]*\).*/\1/p' boot/shim_link.h)" || \
	  { echo "boot/shim.ld and boot/shim_link.h disagree on MEZZ_SHIM_LINK_ADDR"; exit 1; }
	$(Q)$(CC) $(BOOT_FS_LDFLAGS) -o $@ $(BOOT_FS_OBJS) $(BOOT_LIBFDT_A) -lgcc
	$(Q)if readelf -lW $@ | awk '$$2 ~ /^0x/ && $$1 != "LOAD" {bad=1} END {exit !bad}'; then \
	  echo "$@: program headers other than PT_LOAD"; readelf -lW $@; rm -f $@; exit 1; fi

# The reset page: assembled for its final address, kept as a flat 4096-byte image.
$(BOOT_TDX_RESET): $(O)/boot/obj/tdx_reset.o
	$(if $(Q),@echo "  BIN    $@")
	$(Q)objcopy -O binary -j .text $< $@
	$(Q)test "$$(stat -c %s $@)" = 4096 || { echo "$@: not 4096 bytes"; rm -f $@; exit 1; }

# ---- tests ----
define boot_test
$(1)_SRCS := tests/unit/$(1).c
$(1)_LIBS := boot
$(1)_LDLIBS := -lcmocka -lfdt
$$(eval $$(call mezz_test,$(1)))
endef
$(foreach t,$(filter-out boot_elf_test,$(patsubst tests/unit/%.c,%,$(sort $(wildcard tests/unit/boot_*_test.c)))),$(eval $(call boot_test,$(t))))

# The real shim ELF and reset page under unicorn (the prefix hvsim uses: tools/hvsim/module.mk).
boot_elf_test_SRCS := tests/unit/boot_elf_test.c
boot_elf_test_LIBS := boot
boot_elf_test_CFLAGS := -isystem $(UNICORN_PREFIX)/include \
	-DBOOT_SHIM_ELF='"$(abspath $(BOOT_SHIM_ELF))"' -DBOOT_TDX_RESET='"$(abspath $(BOOT_TDX_RESET))"'
boot_elf_test_LDLIBS := -L$(UNICORN_PREFIX)/lib -Wl,-rpath,$(UNICORN_PREFIX)/lib -lunicorn \
	-lpthread -lcmocka -lfdt
$(eval $(call mezz_test,boot_elf_test))
$(O)/tests/boot_elf_test $(O)/asan/tests/boot_elf_test: $(BOOT_SHIM_ELF) $(BOOT_TDX_RESET)

define boot_fuzz
$(1)_SRCS := tests/fuzz/$(1).c
$(1)_LIBS := boot
$(1)_LDLIBS := -lfdt
$(1)_SEEDS := $(wildcard tests/fuzz/seeds/$(1:_fuzz=))
$$(eval $$(call mezz_fuzz,$(1)))
endef
$(foreach t,$(patsubst tests/fuzz/%.c,%,$(sort $(wildcard tests/fuzz/boot_*_fuzz.c))),$(eval $(call boot_fuzz,$(t))))
