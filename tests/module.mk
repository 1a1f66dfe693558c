# tests/: cross-module tests and repository checks.
addr_test_SRCS := tests/unit/addr_test.c
addr_test_LDLIBS := -lcmocka
$(eval $(call mezz_test,addr_test))

SCRIPT_TESTS += tools/check-layers.sh
