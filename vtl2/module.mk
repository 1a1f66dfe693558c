# vtl2/: the usermode paravisor core (the `mezzanine` program is tools/mezzanine/, above the
# devices it assembles).

# The kernel-interface seam over the real mshv_vtl driver (vtl2/kif.h), with its replaceable
# system-call layer. The simulator's seam is tools/hvsim's kif_sim; pick one at link time.
kif_mshv_SRCS := vtl2/kif_sys.c vtl2/kif_mshv.c vtl2/kif_allow.c
$(eval $(call mezz_lib,kif_mshv))

# The paravisor core above the seam (same code on hardware and in hvsim). Link it with
# one seam library (kif_mshv or kif_sim) and hvcall.
vtl2_SRCS := vtl2/vpreg.c vtl2/iobus.c vtl2/vclock.c vtl2/gmem.c vtl2/cpuid.c vtl2/msr.c \
             vtl2/partition.c vtl2/vp.c vtl2/errbuf.c vtl2/vtl0boot.c
vtl2_SRCS += vtl2/linux_boot.c vtl2/acpi.c vtl2/bootcfg.c
$(eval $(call mezz_lib,vtl2))

kif_mshv_test_SRCS := tests/unit/kif_mshv_test.c
kif_mshv_test_LIBS := kif_mshv
kif_mshv_test_LDLIBS := -lcmocka -pthread
$(eval $(call mezz_test,kif_mshv_test))

# hvcall/mshv_abi.h is header-only; its test lives here with the seam that uses it.
mshv_abi_test_SRCS := tests/unit/mshv_abi_test.c
mshv_abi_test_LDLIBS := -lcmocka
$(eval $(call mezz_test,mshv_abi_test))

# vpreg over a fake seam defined in the test itself.
vpreg_test_SRCS := tests/unit/vpreg_test.c
vpreg_test_LIBS := vtl2 hvcall
vpreg_test_LDLIBS := -lcmocka
$(eval $(call mezz_test,vpreg_test))

iobus_test_SRCS := tests/unit/iobus_test.c
iobus_test_LIBS := vtl2
iobus_test_LDLIBS := -lcmocka -lpthread
$(eval $(call mezz_test,iobus_test))

partition_test_SRCS := tests/unit/partition_test.c tests/unit/fake_kif.c
partition_test_LIBS := devices vtl2 hvcall x86
partition_test_LDLIBS := -lcmocka -lpthread
$(eval $(call mezz_test,partition_test))
vtl2_dispatch_fuzz_SRCS := tests/fuzz/vtl2_dispatch_fuzz.c tests/unit/fake_kif.c
vtl2_dispatch_fuzz_LIBS := devices vtl2 hvcall x86
vtl2_dispatch_fuzz_SEEDS := tests/fuzz/seeds/vtl2_dispatch
$(eval $(call mezz_fuzz,vtl2_dispatch_fuzz))

vclock_test_SRCS := tests/unit/vclock_test.c
vclock_test_LIBS := vtl2
vclock_test_LDLIBS := -lcmocka -lpthread
$(eval $(call mezz_test,vclock_test))

gmem_test_SRCS := tests/unit/gmem_test.c
gmem_test_LIBS := vtl2 x86
gmem_test_LDLIBS := -lcmocka -lpthread
$(eval $(call mezz_test,gmem_test))

cpuid_msr_test_SRCS := tests/unit/cpuid_msr_test.c
cpuid_msr_test_LIBS := vtl2
cpuid_msr_test_LDLIBS := -lcmocka -lpthread
$(eval $(call mezz_test,cpuid_msr_test))

# VTL0 direct boot building blocks: bzImage parse + layout, ACPI tables (pure, no I/O).
linux_boot_test_SRCS := tests/unit/linux_boot_test.c
linux_boot_test_LIBS := vtl2
linux_boot_test_LDLIBS := -lcmocka
$(eval $(call mezz_test,linux_boot_test))
linux_boot_fuzz_SRCS := tests/fuzz/linux_boot_fuzz.c
linux_boot_fuzz_LIBS := vtl2
linux_boot_fuzz_SEEDS := tests/fuzz/seeds/linux_boot
$(eval $(call mezz_fuzz,linux_boot_fuzz))

acpi_test_SRCS := tests/unit/acpi_test.c
acpi_test_LIBS := vtl2
acpi_test_LDLIBS := -lcmocka
$(eval $(call mezz_test,acpi_test))
# iasl (acpica-tools) disassembles the tables acpi_test writes out.
SCRIPT_TESTS += tests/unit/acpi_iasl.sh

# The paravisor's configuration from the boot shim's device tree (libfdt).
bootcfg_test_SRCS := tests/unit/bootcfg_test.c
bootcfg_test_LIBS := vtl2
bootcfg_test_LDLIBS := -lcmocka -lfdt
$(eval $(call mezz_test,bootcfg_test))
bootcfg_fuzz_SRCS := tests/fuzz/bootcfg_fuzz.c
bootcfg_fuzz_LIBS := vtl2
bootcfg_fuzz_LDLIBS := -lfdt
bootcfg_fuzz_SEEDS := tests/fuzz/seeds/bootcfg
$(eval $(call mezz_fuzz,bootcfg_fuzz))
