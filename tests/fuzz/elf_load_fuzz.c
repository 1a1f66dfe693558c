/* Fuzz target: tools/mezz-sim/elf_load.c on arbitrary files; an accepted image must also copy. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/mezz-sim/elf_load.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_RAM (2u << 20)
static uint8_t ram[FUZZ_RAM];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elf_load_info info;
	char err[160];
	if (elf_load_parse(data, size, FUZZ_RAM, &info, err, sizeof(err)) != 0) {
		if (err[0] == '\0' || !memchr(err, '\0', sizeof(err)))
			abort(); /* every refusal must say why */
		return 0;
	}
	if (elf_load_copy(data, size, &info, ram, FUZZ_RAM) != 0)
		abort(); /* parse accepted it, so it must fit */
	if (info.entry < info.lowest || info.entry >= info.highest || info.highest > FUZZ_RAM)
		abort();
	return 0;
}
