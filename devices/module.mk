# devices/: device models on the I/O bus (library `devices`). Each model is devices/NAME.c +
# devices/NAME.h, unit-tested by tests/unit/dev_NAME_test.c at register level (cmocka, with a
# manual vclock and fake interrupt lines). Models use vtl2's iobus/irq/vclock/devctx headers and
# never the seam (tools/check-layers.sh).
#
# A device test links its own model plus the vtl2 pieces devices use (bus, clock); a test that
# needs more models names them in DEV_TEST_EXTRA_<name> (e.g. DEV_TEST_EXTRA_chipset).
devices_SRCS := $(sort $(wildcard devices/*.c))
$(eval $(call mezz_lib,devices))

DEV_TESTS := $(patsubst tests/unit/dev_%_test.c,%,$(sort $(wildcard tests/unit/dev_*_test.c)))
define dev_test
dev_$(1)_test_SRCS := tests/unit/dev_$(1)_test.c tests/unit/dev_fake.c $(wildcard devices/$(1).c) \
                      $(DEV_TEST_EXTRA_$(1)) vtl2/iobus.c vtl2/vclock.c
dev_$(1)_test_LDLIBS := -lcmocka -lpthread
$$(eval $$(call mezz_test,dev_$(1)_test))
endef
$(foreach t,$(DEV_TESTS),$(eval $(call dev_test,$(t))))

iobus_devices_fuzz_SRCS := tests/fuzz/iobus_devices_fuzz.c
iobus_devices_fuzz_LIBS := devices vtl2 hvcall x86
iobus_devices_fuzz_LDLIBS := -lpthread
iobus_devices_fuzz_SEEDS := tests/fuzz/seeds/iobus_devices
$(eval $(call mezz_fuzz,iobus_devices_fuzz))
