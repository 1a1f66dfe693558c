/*
 * mezzanine: the VTL2 paravisor process. It runs VTL0's virtual processors through the
 * kernel-interface seam (vtl2/kif.h). For now it explains itself; the VP loops and intercept
 * dispatch arrive with the paravisor-core issue.
 */
#include <stdio.h>
#include <string.h>

static const char usage[] =
	"mezzanine - the Mezzanine VTL2 paravisor process\n"
	"\n"
	"Mezzanine runs inside a Hyper-V guest at VTL2. It drives VTL0's virtual processors\n"
	"through the Linux mshv_vtl driver (/dev/mshv, MSHV_RETURN_TO_LOWER_VTL), receives each\n"
	"VTL0 exit as a hypervisor intercept message and emulates devices in VTL2.\n"
	"\n"
	"usage: mezzanine [--help] [--version]\n"
	"\n"
	"Without a Hyper-V VTL2 kernel, run it inside the simulator: see mezz-sim(1) in README.md.\n";

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		puts("mezzanine 0.1");
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "--help") != 0 && strcmp(argv[1], "-h") != 0) {
		fprintf(stderr, "mezzanine: unknown argument '%s'\n\n%s", argv[1], usage);
		return 2;
	}
	fputs(usage, stdout);
	return 0;
}
