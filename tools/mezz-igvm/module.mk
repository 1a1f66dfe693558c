# tools/mezz-igvm/: the IGVM command line tool (build, dump, measure, verify).
MEZZ_IGVM_TOOL_SRCS := tools/mezz-igvm/mezz_igvm.c tools/mezz-igvm/manifest.c \
	tools/mezz-igvm/dump.c tools/mezz-igvm/atomic_file.c tools/mezz-igvm/paravisor.c
mezz-igvm_SRCS := $(MEZZ_IGVM_TOOL_SRCS)
mezz-igvm_LIBS := igvm
mezz-igvm_LDLIBS := -ljson-c -lmbedcrypto
$(eval $(call mezz_prog,mezz-igvm))

SCRIPT_TESTS += tools/mezz-igvm/tests/cli.sh

# Builder unit tests (cmocka), against the library.
igvm_build_test_SRCS := tests/unit/igvm_build_test.c
igvm_build_test_LIBS := igvm
igvm_build_test_LDLIBS := -lmbedcrypto -lcmocka
$(eval $(call mezz_test,igvm_build_test))

# Manifest parser fuzz target: JSON -> builder -> writer, payload files from a fake resolver.
igvm_manifest_fuzz_SRCS := tests/fuzz/igvm_manifest_fuzz.c tools/mezz-igvm/manifest.c \
	tools/mezz-igvm/atomic_file.c tools/mezz-igvm/paravisor.c
igvm_manifest_fuzz_LIBS := igvm
igvm_manifest_fuzz_LDLIBS := -ljson-c -lmbedcrypto
igvm_manifest_fuzz_SEEDS := tools/mezz-igvm/tests/seeds tools/mezz-igvm/examples
$(eval $(call mezz_fuzz,igvm_manifest_fuzz))

SCRIPT_TESTS += tools/mezz-igvm/tests/paravisor.sh

# Layout unit tests (cmocka) of the "paravisor" section.
paravisor_layout_test_SRCS := tests/unit/paravisor_layout_test.c tools/mezz-igvm/paravisor.c
paravisor_layout_test_LIBS := igvm
paravisor_layout_test_LDLIBS := -lmbedcrypto -lcmocka
$(eval $(call mezz_test,paravisor_layout_test))

# ---- the Mezzanine IGVM image: `make igvm` -> $(MEZZ_IGVM_IMAGE) ----
# Inputs: the boot shim and TDX reset page (boot/module.mk), Debian's cloud kernel (fetched
# by tools/linux-guest.sh; KERNEL=path overrides) and an initramfs with the paravisor
# process (tools/mkinitrd.sh). Not part of `all`: the kernel needs Debian's archive.
MEZZ_IGVM_IMAGE := $(O)/mezzanine.igvm
MEZZ_IGVM_INITRD := $(O)/igvm/initrd.cpio
MEZZ_IGVM_MANIFEST := tools/mezz-igvm/mezzanine.json
MEZZ_IGVM_KERNEL := $(if $(KERNEL),$(KERNEL),$(O)/linux/vmlinuz)

.PHONY: igvm
igvm: $(MEZZ_IGVM_IMAGE)
	$(Q)$(O)/bin/mezz-igvm measure $(MEZZ_IGVM_IMAGE)
	$(Q)$(O)/bin/mezz-igvm verify $(MEZZ_IGVM_IMAGE)

# One run of the fetch script makes both (grouped target: never twice in parallel).
$(O)/linux/vmlinuz $(O)/linux/busybox &:
	$(Q)O="$(O)" tools/linux-guest.sh

$(MEZZ_IGVM_INITRD): tools/mkinitrd.sh $(O)/bin/mezzanine-static
	$(if $(Q),@echo "  INITRD $@")
	$(Q)tools/mkinitrd.sh -o $@ $(O)/bin/mezzanine-static >/dev/null

$(MEZZ_IGVM_IMAGE): $(MEZZ_IGVM_MANIFEST) $(O)/bin/mezz-igvm $(O)/boot/mezz-shim.elf \
		$(O)/boot/mezz-tdx-reset.bin $(MEZZ_IGVM_KERNEL) $(MEZZ_IGVM_INITRD)
	$(if $(Q),@echo "  IGVM   $@")
	$(Q)$(O)/bin/mezz-igvm build $(MEZZ_IGVM_MANIFEST) -o $@ \
	  --set shim=$(O)/boot/mezz-shim.elf --set tdx_reset=$(O)/boot/mezz-tdx-reset.bin \
	  --set kernel=$(MEZZ_IGVM_KERNEL) --set initrd=$(MEZZ_IGVM_INITRD)
