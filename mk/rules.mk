# Build templates shared by every module.mk. Three flavours of each object:
#   $(O)/obj/...       normal build (gcc -O2)
#   $(O)/asan/obj/...  ASan+UBSan build of the same sources (gcc)
#   $(O)/fuzz/obj/...  libFuzzer instrumentation (clang)
#
# A module declares, for a name N:
#   N_SRCS    its .c files (repo-relative)
#   N_LIBS    internal libraries it links, most dependent first (names as in LIBS)
#   N_LDLIBS  system libraries (-l..., $(shell pkg-config ...))
#   N_CFLAGS  extra compile flags for its own sources (optional)
# and then calls one of:
#   $(eval $(call mezz_lib,N))    -> $(O)/lib/libN.a (+ asan, fuzz variants)
#   $(eval $(call mezz_prog,N))   -> $(O)/bin/N and $(O)/asan/bin/N
#   $(eval $(call mezz_test,N))   -> $(O)/tests/N and $(O)/asan/tests/N, run by `make check`
#   $(eval $(call mezz_fuzz,N))   -> $(O)/fuzz/bin/N; N_SEEDS lists seed directories
#   $(eval $(call mezz_bench,N))  -> $(O)/bench/N, run by `make bench`

FLAVOURS := normal asan fuzz
objdir_normal := $(O)/obj
objdir_asan   := $(O)/asan/obj
objdir_fuzz   := $(O)/fuzz/obj
libdir_normal := $(O)/lib
libdir_asan   := $(O)/asan/lib
libdir_fuzz   := $(O)/fuzz/lib

# Per-source extra flags: set by mezz_* for the sources of each name.
src_cflags = $($(1)_CFLAGS)

define mezz_objrule
$(objdir_$(1))/%.o: %.c
	@mkdir -p $$(@D)
	$$(if $$(Q),@echo "  CC[$(1)] $$<")
	$$(Q)$$(CC_$(1)) $$(CFLAGS_$(1)) $$(EXTRA_CFLAGS_$$<) -MMD -MP -c $$< -o $$@
endef
$(foreach f,$(FLAVOURS),$(eval $(call mezz_objrule,$(f))))

# objs(flavour, srcs)
mezz_objs = $(patsubst %.c,$(objdir_$(1))/%.o,$(2))
# libfiles(flavour, libnames)
mezz_libfiles = $(foreach l,$(2),$(libdir_$(1))/lib$(l).a)

define mezz_srcflags
$(foreach s,$($(1)_SRCS),$(eval EXTRA_CFLAGS_$(s) += $($(1)_CFLAGS)))
endef

define mezz_lib
LIBS += $(1)
$(call mezz_srcflags,$(1))
$(foreach f,$(FLAVOURS),
$(libdir_$(f))/lib$(1).a: $(call mezz_objs,$(f),$($(1)_SRCS))
	@mkdir -p $$(@D)
	$$(if $$(Q),@echo "  AR     $$@")
	$$(Q)rm -f $$@ && $$(AR) rcs $$@ $$^
)
endef

# mezz_link(flavour, name, outfile, ldflags)
define mezz_link
$(3): $(call mezz_objs,$(1),$($(2)_SRCS)) $(call mezz_libfiles,$(1),$($(2)_LIBS))
	@mkdir -p $$(@D)
	$$(if $$(Q),@echo "  LD[$(1)] $$@")
	$$(Q)$$(CC_$(1)) $(4) -o $$@ $(call mezz_objs,$(1),$($(2)_SRCS)) $(call mezz_libfiles,$(1),$($(2)_LIBS)) $$($(2)_LDLIBS)
endef

define mezz_prog
PROGS += $(1)
$(call mezz_srcflags,$(1))
$(call mezz_link,normal,$(1),$(O)/bin/$(1),)
$(call mezz_link,asan,$(1),$(O)/asan/bin/$(1),$(LDFLAGS_asan))
endef

define mezz_test
UNIT_TESTS += $(1)
$(call mezz_srcflags,$(1))
$(call mezz_link,normal,$(1),$(O)/tests/$(1),)
$(call mezz_link,asan,$(1),$(O)/asan/tests/$(1),$(LDFLAGS_asan))
endef

define mezz_fuzz
FUZZ_TARGETS += $(1)
FUZZ_SEEDS_$(1) := $($(1)_SEEDS)
$(call mezz_srcflags,$(1))
$(call mezz_link,fuzz,$(1),$(O)/fuzz/bin/$(1),$(LDFLAGS_fuzz))
endef

define mezz_bench
BENCHES += $(1)
$(call mezz_srcflags,$(1))
$(call mezz_link,normal,$(1),$(O)/bench/$(1),)
endef

# Dependency files of every object built so far.
-include $(shell find $(O) -name '*.d' 2>/dev/null)
