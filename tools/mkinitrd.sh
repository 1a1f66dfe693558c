#!/usr/bin/env bash
# mkinitrd.sh: the VTL2 initramfs of the Mezzanine IGVM image (`make igvm`).
#
#   tools/mkinitrd.sh -o OUT.cpio PROGRAM                      (the image's: PROGRAM static)
#   tools/mkinitrd.sh -o OUT.cpio --busybox BUSYBOX PROGRAM    (with a shell, for debugging)
#
# Without --busybox (what `make igvm` does) the archive holds PROGRAM, stripped, as
# /bin/mezzanine and /mezzanine-init -> bin/mezzanine: the paravisor is init itself (it mounts
# /proc, /sys and /dev, reads the boot shim's device tree, powers off at the end; see
# tools/mezzanine/mezzanine.c), and PROGRAM must be statically linked - one file, no shared
# libraries in VTL2 memory.
#
# With --busybox, OUT is an uncompressed newc cpio (the shim hands it to the kernel as is; no
# decompressor needed) holding:
#   /bin/mezzanine      PROGRAM (the paravisor process)
#   <its libraries>     every path `ldd PROGRAM` lists, at that path, plus the dynamic loader
#   /bin/busybox        BUSYBOX (a static busybox: the image has no other shell)
#   /mezzanine-init     the init (rdinit=/mezzanine-init): a busybox sh script that mounts
#                       /proc, /sys and /dev (devtmpfs), runs /bin/mezzanine with init's
#                       arguments - the words after "--" on the kernel command line, i.e. the
#                       host's part when the image's command-line policy appends the host's -
#                       prints its exit status and powers off (init must never exit)
#   /proc /sys /dev /tmp  empty mount points
# /dev/console comes from the kernel's built-in initramfs (this one is unpacked over it).
# The archive is reproducible: owner 0:0, every mtime 0, device-independent inode numbers, so
# the image's launch measurements depend only on the file contents.
# Exit 0 on success, 2 on bad arguments or a failure (nothing is left at OUT then).
set -u
usage() { echo "usage: tools/mkinitrd.sh -o OUT.cpio [--busybox BUSYBOX] PROGRAM" >&2; exit 2; }
out= bb= prog=
while [ $# -gt 0 ]; do
	case $1 in
	-o) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
	--busybox) [ $# -ge 2 ] || usage; bb=$2; shift 2 ;;
	-*) echo "mkinitrd: unknown option $1" >&2; usage ;;
	*) [ -z "$prog" ] || usage; prog=$1; shift ;;
	esac
done
[ -n "$out" ] && [ -n "$prog" ] || usage
for f in ${bb:+"$bb"} "$prog"; do
	[ -f "$f" ] && [ -x "$f" ] || { echo "mkinitrd: $f: not an executable file" >&2; exit 2; }
done
command -v cpio >/dev/null || { echo "mkinitrd: needs cpio (tools/install-deps.sh)" >&2; exit 2; }
# busybox must not need libraries of its own: the image only carries PROGRAM's.
if [ -n "$bb" ] && ldd "$bb" >/dev/null 2>&1; then
	echo "mkinitrd: $bb is dynamically linked (use busybox-static's binary)" >&2
	exit 2
fi

st=$(mktemp -d) && chmod 0755 "$st" || exit 2
trap 'rm -rf "$st"; rm -f "$out.tmp"' EXIT
init=$(cat <<'INIT'
#!/bin/busybox sh
# Mezzanine's VTL2 init (tools/mkinitrd.sh): kernel file systems, then the paravisor with
# the arguments the kernel gave init (the words after "--" on its command line).
bb=/bin/busybox
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
$bb echo "mezzanine-init: /bin/mezzanine $*"
/bin/mezzanine "$@"
rc=$?
$bb echo "mezzanine-init: mezzanine exited with status $rc"
$bb poweroff -f
INIT
)
if [ -z "$bb" ]; then
	if ldd "$prog" >/dev/null 2>&1; then
		echo "mkinitrd: $prog is dynamically linked (without --busybox it must be static)" >&2
		exit 2
	fi
	mkdir -p "$st/bin" "$st/proc" "$st/sys" "$st/dev" "$st/tmp" &&
		strip --strip-all -o "$st/bin/mezzanine" "$prog" &&
		ln -s bin/mezzanine "$st/mezzanine-init" && chmod 0755 "$st/bin/mezzanine" ||
		{ echo "mkinitrd: cannot stage the initramfs" >&2; exit 2; }
else
mkdir -p "$st/bin" "$st/proc" "$st/sys" "$st/dev" "$st/tmp" &&
	cp "$prog" "$st/bin/mezzanine" && cp "$bb" "$st/bin/busybox" &&
	printf '%s\n' "$init" >"$st/mezzanine-init" &&
	chmod 0755 "$st/bin/mezzanine" "$st/bin/busybox" "$st/mezzanine-init" ||
	{ echo "mkinitrd: cannot stage the initramfs" >&2; exit 2; }
fi
# ldd lines: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)", "/lib64/ld-linux-x86-64.so.2
# (0x...)", "linux-vdso.so.1 (0x...)" (no file); a static PROGRAM has none.
libs=$(ldd "$prog" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3; next } $1 ~ /^\// { print $1 }')
if ldd "$prog" 2>/dev/null | grep -q "not found"; then
	echo "mkinitrd: ldd $prog: a library is not found" >&2
	exit 2
fi
for l in $libs; do
	mkdir -p "$st$(dirname "$l")" && cp -L "$l" "$st$l" ||
		{ echo "mkinitrd: cannot copy $l" >&2; exit 2; }
done
mkdir -p "$(dirname "$out")" || exit 2
find "$st" -exec touch -h -d @0 {} + &&
	(cd "$st" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 --reproducible) >"$out.tmp" &&
	mv "$out.tmp" "$out" || { echo "mkinitrd: cannot write $out" >&2; exit 2; }
echo "mkinitrd: $out ($(stat -c %s "$out") bytes): /bin/mezzanine, ${bb:+/bin/busybox, }/mezzanine-init${libs:+, $(echo $libs | tr ' ' ',' | sed 's/,/, /g')}"
