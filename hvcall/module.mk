# hvcall/: Hyper-V TLFS definitions, status names, intercept message codec, hypercall wrappers.
hvcall_SRCS := hvcall/hv.c hvcall/hv_exit.c hvcall/hv_call.c
$(eval $(call mezz_lib,hvcall))

hv_test_SRCS := tests/unit/hv_test.c
hv_test_LIBS := hvcall
hv_test_LDLIBS := -lcmocka
$(eval $(call mezz_test,hv_test))

hv_exit_test_SRCS := tests/unit/hv_exit_test.c
hv_exit_test_LIBS := hvcall
hv_exit_test_LDLIBS := -lcmocka
$(eval $(call mezz_test,hv_exit_test))

hv_call_test_SRCS := tests/unit/hv_call_test.c
hv_call_test_LIBS := hvcall
hv_call_test_LDLIBS := -lcmocka
$(eval $(call mezz_test,hv_call_test))

hv_exit_fuzz_SRCS := tests/fuzz/hv_exit_fuzz.c
hv_exit_fuzz_LIBS := hvcall
hv_exit_fuzz_SEEDS := tests/fuzz/seeds/hv_exit
$(eval $(call mezz_fuzz,hv_exit_fuzz))
