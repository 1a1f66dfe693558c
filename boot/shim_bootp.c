/* shim_bootp: see shim_bootp.h. */
#include "boot/shim_bootp.h"

#include <errno.h>
#include <string.h>

#include "boot/shim_err.h"

int shim_bootp_check(const uint8_t *setup, size_t setup_size, const struct mezz_shim_params *p,
		     struct shim_bp_kernel *k, char *err, size_t errlen)
{
	if (setup_size < SHIM_BP_HDR_OFF + sizeof(struct x86_boot_setup_header))
		return shim_err_set(err, errlen, -EINVAL,
				    "kernel header: setup bytes 0x%zx too short", setup_size);
	struct x86_boot_setup_header h;
	memcpy(&h, setup + SHIM_BP_HDR_OFF, sizeof(h));
	if (h.boot_flag != SHIM_BP_BOOT_FLAG)
		return shim_err_set(err, errlen, -EINVAL, "kernel header: boot_flag 0x%x, want 0xaa55",
				    h.boot_flag);
	if (h.header != SHIM_BP_HDR_MAGIC)
		return shim_err_set(err, errlen, -EINVAL, "kernel header: magic 0x%x is not HdrS",
				    h.header);
	if (h.version < SHIM_BP_MIN_VERSION)
		return shim_err_set(err, errlen, -EINVAL,
				    "kernel header: protocol 0x%x older than 2.12", h.version);
	uint32_t end = 0x202u + setup[0x201];
	if (end > SHIM_BP_HDR_END_MAX)
		end = SHIM_BP_HDR_END_MAX;
	if (end > setup_size)
		return shim_err_set(err, errlen, -EINVAL,
				    "kernel header: ends at 0x%x past the setup bytes 0x%zx", end,
				    setup_size);
	/* Protocol 2.10 put init_size last (0x260..0x264); newer fields may be absent. */
	if (end < 0x264u)
		return shim_err_set(err, errlen, -EINVAL,
				    "kernel header: ends at 0x%x, before init_size", end);
	if (!(h.xloadflags & SHIM_BP_XLF_KERNEL_64))
		return shim_err_set(err, errlen, -EINVAL,
				    "kernel header: no 64-bit entry (xloadflags 0x%x)", h.xloadflags);
	if (!(h.loadflags & SHIM_BP_LOADED_HIGH))
		return shim_err_set(err, errlen, -EINVAL,
				    "kernel header: not a bzImage (loadflags 0x%x)", h.loadflags);
	if (h.init_size > p->kernel_span)
		return shim_err_set(err, errlen, -EINVAL,
				    "kernel header: init_size 0x%x exceeds kernel_span 0x%llx",
				    h.init_size, (unsigned long long)p->kernel_span);
	if (h.relocatable_kernel) {
		if (!h.kernel_alignment || (h.kernel_alignment & (h.kernel_alignment - 1)) ||
		    p->kernel.gpa % h.kernel_alignment)
			return shim_err_set(err, errlen, -EINVAL,
					    "kernel header: gpa 0x%llx not aligned to kernel_alignment "
					    "0x%x", (unsigned long long)p->kernel.gpa,
					    h.kernel_alignment);
	} else if (h.pref_address != p->kernel.gpa) {
		return shim_err_set(err, errlen, -EINVAL,
				    "kernel header: not relocatable and pref_address 0x%llx != "
				    "gpa 0x%llx", (unsigned long long)h.pref_address,
				    (unsigned long long)p->kernel.gpa);
	}
	if (!h.cmdline_size)
		return shim_err_set(err, errlen, -EINVAL, "kernel header: cmdline_size 0");
	if (p->initrd.size && p->initrd.gpa + p->initrd.size - 1 > h.initrd_addr_max)
		return shim_err_set(err, errlen, -EINVAL,
				    "kernel header: initrd ends at 0x%llx past initrd_addr_max 0x%x",
				    (unsigned long long)(p->initrd.gpa + p->initrd.size),
				    h.initrd_addr_max);
	k->version = h.version;
	k->header_end = end;
	k->cmdline_size = h.cmdline_size;
	k->init_size = h.init_size;
	k->initrd_addr_max = h.initrd_addr_max;
	k->relocatable = h.relocatable_kernel != 0;
	return 0;
}

void shim_bootp_build(struct x86_boot_params *bp, const uint8_t *setup,
		      const struct shim_bp_kernel *k, const struct shim_bp_input *in)
{
	memset(bp, 0, sizeof(*bp));
	/* boot.rst: copy the header as far as the kernel declares it. */
	memcpy((uint8_t *)bp + SHIM_BP_HDR_OFF, setup + SHIM_BP_HDR_OFF,
	       k->header_end - SHIM_BP_HDR_OFF);
	struct x86_boot_setup_header *h = &bp->hdr;
	h->type_of_loader = SHIM_BP_TYPE_OF_LOADER;
	h->cmd_line_ptr = (uint32_t)in->cmdline_gpa;
	bp->ext_cmd_line_ptr = (uint32_t)(in->cmdline_gpa >> 32);
	h->ramdisk_image = (uint32_t)in->initrd_gpa;
	h->ramdisk_size = (uint32_t)in->initrd_size;
	bp->ext_ramdisk_image = (uint32_t)(in->initrd_gpa >> 32);
	bp->ext_ramdisk_size = (uint32_t)(in->initrd_size >> 32);
	h->setup_data = in->setup_data_gpa;
	/* hardware_subarch 0 (PC); the loader does not set heap_end_ptr/CAN_USE_HEAP: the
	   64-bit entry skips the real-mode code that uses it. */
	h->hardware_subarch = 0;
	h->hardware_subarch_data = 0;
	bp->e820_entries = (uint8_t)in->e820->n;
	memcpy(bp->e820_table, in->e820->e, in->e820->n * sizeof(bp->e820_table[0]));
}
