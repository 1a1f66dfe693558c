# igvm/: IGVM file format library (parser/validator, measurement, builder if present).
# Static (in-tree name): $(O)/lib/libigvm.a, installed as libmezz-igvm.a; shared: $(O)/lib/libmezz-igvm.so; pkg-config: mezz-igvm.pc
# (the build-tree copy uses the default PREFIX; install-igvm writes one for the PREFIX used).
IGVM_LIB_SRCS := igvm/igvm.c igvm/igvm_crc.c $(wildcard igvm/igvm_measure.c) $(wildcard igvm/igvm_build.c)
IGVM_LIB_LDLIBS := -lmbedcrypto

igvm_SRCS := $(IGVM_LIB_SRCS)
$(eval $(call mezz_lib,igvm))

IGVM_VERSION := 0.1.0
IGVM_SO := $(O)/lib/libmezz-igvm.so
IGVM_PC := $(O)/lib/pkgconfig/mezz-igvm.pc
EXTRA_ALL += $(IGVM_SO) $(IGVM_PC)

$(IGVM_SO): $(call mezz_objs,normal,$(IGVM_LIB_SRCS))
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD[so]  $@")
	$(Q)$(CC) -shared -Wl,-soname,libmezz-igvm.so.0 -Wl,--no-undefined -o $@ $^ $(IGVM_LIB_LDLIBS)

$(IGVM_PC): igvm/mezz-igvm.pc.in
	@mkdir -p $(@D)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(IGVM_VERSION)|' $< > $@

IGVM_PUBLIC_HEADERS := igvm/igvm_format.h igvm/igvm.h igvm/igvm_crc.h \
	$(wildcard igvm/igvm_measure.h) $(wildcard igvm/igvm_build.h)

.PHONY: install-igvm
INSTALL_TARGETS += install-igvm
install-igvm: $(O)/lib/libigvm.a $(IGVM_SO)
	$(Q)install -d $(DESTDIR)$(PREFIX)/include/mezz-igvm/igvm $(DESTDIR)$(PREFIX)/lib/pkgconfig
	$(Q)install -m 0644 $(IGVM_PUBLIC_HEADERS) $(DESTDIR)$(PREFIX)/include/mezz-igvm/igvm/
	$(Q)install -m 0644 $(O)/lib/libigvm.a $(DESTDIR)$(PREFIX)/lib/libmezz-igvm.a
	$(Q)install -m 0755 $(IGVM_SO) $(DESTDIR)$(PREFIX)/lib/libmezz-igvm.so.0
	$(Q)ln -sf libmezz-igvm.so.0 $(DESTDIR)$(PREFIX)/lib/libmezz-igvm.so
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(IGVM_VERSION)|' igvm/mezz-igvm.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/mezz-igvm.pc

# Unit tests (testdata located at run time via $MEZZ_SHARED or ../shared).
igvm_parse_test_SRCS := tests/unit/igvm_parse_test.c
igvm_parse_test_LIBS := igvm
igvm_parse_test_LDLIBS := -lcmocka -lmbedcrypto
$(eval $(call mezz_test,igvm_parse_test))

igvm_measure_test_SRCS := tests/unit/igvm_measure_test.c
igvm_measure_test_LIBS := igvm
igvm_measure_test_LDLIBS := -lcmocka -lmbedcrypto
$(eval $(call mezz_test,igvm_measure_test))

# libFuzzer targets; seed dirs that do not exist are skipped by the runner.
igvm_parse_fuzz_SRCS := tests/fuzz/igvm_parse_fuzz.c igvm/igvm.c igvm/igvm_crc.c
igvm_parse_fuzz_SEEDS := ../shared/testdata/igvm ../shared/testdata/igvm/probe
$(eval $(call mezz_fuzz,igvm_parse_fuzz))

igvm_measure_fuzz_SRCS := tests/fuzz/igvm_measure_fuzz.c igvm/igvm.c igvm/igvm_crc.c igvm/igvm_measure.c
igvm_measure_fuzz_LDLIBS := -lmbedcrypto
igvm_measure_fuzz_SEEDS := ../shared/testdata/igvm ../shared/testdata/igvm/probe
$(eval $(call mezz_fuzz,igvm_measure_fuzz))

# `make bench`: 256 MiB image, parse GB/s and measurement vs raw mbedtls hashing.
igvm_bench_SRCS := tests/bench/igvm_bench.c
igvm_bench_LIBS := igvm
igvm_bench_LDLIBS := -lmbedcrypto
$(eval $(call mezz_bench,igvm_bench))
