/* Typed address helpers (arch/addr.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "arch/addr.h"

static void test_gpa_gpn_round_trip(void **state)
{
	(void)state;
	gpa_t a = gpa(0x123456789000ull);
	assert_int_equal(gpa_to_gpn(a).v, 0x123456789ull);
	assert_int_equal(gpn_to_gpa(gpa_to_gpn(gpa(0x1fff))).v, 0x1000);
	assert_int_equal(gpa_add(a, 0x10).v, 0x123456789010ull);
	assert_int_equal(gva_add(gva(UINT64_MAX), 1).v, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gpa_gpn_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
