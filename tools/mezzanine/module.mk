# tools/mezzanine/: the paravisor programs' shared assembly (vm.c: partition + chipset + run +
# summary) and `mezzanine` itself, the paravisor over the real mshv_vtl driver (kif_mshv).
# mezz-sim links the same vm.c over hvsim's seam (tools/mezz-sim/module.mk).
VM_SRCS := tools/mezzanine/vm.c
mezzanine_SRCS := tools/mezzanine/mezzanine.c $(VM_SRCS)
mezzanine_LIBS := vmbus devices vtl2 kif_mshv hvcall x86
mezzanine_LDLIBS := -lpthread -lfdt
$(eval $(call mezz_prog,mezzanine))

# The image's copy (tools/mkinitrd.sh): the same objects linked statically, so the initramfs
# holds one file and no shared libraries (VTL2 memory: docs/boot.md).
MEZZANINE_STATIC := $(O)/bin/mezzanine-static
EXTRA_ALL += $(MEZZANINE_STATIC)
$(MEZZANINE_STATIC): $(call mezz_objs,normal,$(mezzanine_SRCS)) \
		$(foreach l,$(mezzanine_LIBS),$(O)/lib/lib$(l).a)
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD[static] $@")
	$(Q)$(CC) -static -o $@ $(call mezz_objs,normal,$(mezzanine_SRCS)) \
	  $(foreach l,$(mezzanine_LIBS),$(O)/lib/lib$(l).a) $(mezzanine_LDLIBS)
