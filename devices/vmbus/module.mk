# devices/vmbus/: VMBus in VTL2 (library `vmbus`): ring buffers, channel messages, the server
# VTL0 talks to and the client of the host's VMBus. Facts: ../shared/docs/hyperv-abi-facts.md §3.
# The peer on either side is hostile: every index, length and message is validated here.
#
# Tests are found by name: tests/unit/vmbus_*_test.c (cmocka), tests/fuzz/vmbus_*_fuzz.c
# (libFuzzer, seeds in tests/fuzz/seeds/NAME if present), tests/bench/vmbus_*_bench.c.
vmbus_SRCS := $(sort $(wildcard devices/vmbus/*.c))
$(eval $(call mezz_lib,vmbus))

define vmbus_test
$(1)_SRCS := tests/unit/$(1).c
$(1)_LIBS := vmbus devices vtl2 hvcall x86
$(1)_LDLIBS := -lcmocka -lpthread
$$(eval $$(call mezz_test,$(1)))
endef
$(foreach t,$(patsubst tests/unit/%.c,%,$(sort $(wildcard tests/unit/vmbus_*_test.c))),$(eval $(call vmbus_test,$(t))))

define vmbus_fuzz
$(1)_SRCS := tests/fuzz/$(1).c
$(1)_LIBS := vmbus devices vtl2 hvcall x86
$(1)_LDLIBS := -lpthread
$(1)_SEEDS := $(wildcard tests/fuzz/seeds/$(1))
$$(eval $$(call mezz_fuzz,$(1)))
endef
$(foreach t,$(patsubst tests/fuzz/%.c,%,$(sort $(wildcard tests/fuzz/vmbus_*_fuzz.c))),$(eval $(call vmbus_fuzz,$(t))))

define vmbus_bench
$(1)_SRCS := tests/bench/$(1).c
$(1)_LIBS := vmbus devices vtl2 hvcall x86
$(1)_LDLIBS := -lpthread
$$(eval $$(call mezz_bench,$(1)))
endef
$(foreach t,$(patsubst tests/bench/%.c,%,$(sort $(wildcard tests/bench/vmbus_*_bench.c))),$(eval $(call vmbus_bench,$(t))))

# The storage path's threaded tests once more under ThreadSanitizer (built by the script).
SCRIPT_TESTS += tests/unit/tsan-vmbus.sh
