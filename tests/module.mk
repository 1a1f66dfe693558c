# tests/: cross-module tests and repository checks.
addr_test_SRCS := tests/unit/addr_test.c
addr_test_LDLIBS := -lcmocka
$(eval $(call mezz_test,addr_test))

SCRIPT_TESTS += tools/check-layers.sh

x86_pagewalk_test_SRCS := tests/unit/x86_pagewalk_test.c arch/x86_64/x86_pagewalk.c
x86_pagewalk_test_LDLIBS := -lcmocka
$(eval $(call mezz_test,x86_pagewalk_test))

x86_pagewalk_fuzz_SRCS := tests/fuzz/x86_pagewalk_fuzz.c arch/x86_64/x86_pagewalk.c
$(eval $(call mezz_fuzz,x86_pagewalk_fuzz))
