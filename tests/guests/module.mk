# tests/guests/: freestanding VTL0 test guests (ELF64 at 1 MiB) run under mezz-sim, plus their
# end-to-end test script. Not built with the mezz_* templates: own toolchain flags and rules.
GUEST_NAMES := io mmio cpuid msr hypercall halt pagefault interrupt vtlprot smp demo fail \
               chipset uart stop_cf9 stop_kbd stop_poweroff hostile hostile_rep \
               bench_compute bench_exits bench_uart bench_ioapic bench_cpuid vmbus
GUEST_CFLAGS := -std=c11 -O2 -g -I. -ffreestanding -fno-pic -fno-pie -mno-red-zone -nostdlib \
                -fno-stack-protector -mgeneral-regs-only -mcmodel=small \
                -fno-asynchronous-unwind-tables -fno-omit-frame-pointer $(WARNINGS)
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,-T,tests/guests/guest.ld \
                 -Wl,-z,max-page-size=4096 -Wl,--build-id=none -Wl,-z,noexecstack
GUEST_RT_OBJS := $(O)/guests/obj/entry.o $(O)/guests/obj/isr.o $(O)/guests/obj/rt.o
GUEST_ELFS := $(foreach g,$(GUEST_NAMES),$(O)/guests/$(g).elf)

$(O)/guests/obj/%.o: tests/guests/%.c
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC[guest] $<")
	$(Q)$(CC) $(GUEST_CFLAGS) -MMD -MP -c $< -o $@

$(O)/guests/obj/%.o: tests/guests/%.S
	@mkdir -p $(@D)
	$(if $(Q),@echo "  AS[guest] $<")
	$(Q)$(CC) $(GUEST_CFLAGS) -MMD -MP -c $< -o $@

$(O)/guests/%.elf: $(O)/guests/obj/%.o $(GUEST_RT_OBJS) tests/guests/guest.ld
	$(if $(Q),@echo "  LD[guest] $@")
	$(Q)$(CC) $(GUEST_LDFLAGS) -o $@ $< $(GUEST_RT_OBJS)

.PRECIOUS: $(O)/guests/obj/%.o
.PHONY: guests
guests: $(GUEST_ELFS)
EXTRA_ALL += $(GUEST_ELFS)
