# tools/mezz-igvm/: the IGVM command line tool (build, dump, measure, verify).
MEZZ_IGVM_TOOL_SRCS := tools/mezz-igvm/mezz_igvm.c tools/mezz-igvm/manifest.c \
	tools/mezz-igvm/dump.c tools/mezz-igvm/atomic_file.c
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
	tools/mezz-igvm/atomic_file.c
igvm_manifest_fuzz_LIBS := igvm
igvm_manifest_fuzz_LDLIBS := -ljson-c -lmbedcrypto
igvm_manifest_fuzz_SEEDS := tools/mezz-igvm/tests/seeds tools/mezz-igvm/examples
$(eval $(call mezz_fuzz,igvm_manifest_fuzz))
