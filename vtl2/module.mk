# vtl2/: the usermode paravisor.
mezzanine_SRCS := vtl2/main.c
$(eval $(call mezz_prog,mezzanine))
