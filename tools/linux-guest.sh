#!/usr/bin/env bash
# Fetch the real VTL0 guest from Debian (never committed): the cloud kernel's bzImage
# (linux-image-cloud-amd64, whatever 6.1 ABI it depends on today) and busybox-static for a
# minimal initramfs whose /init prints a marker and powers off. Output in $O/linux/:
#   vmlinuz      the kernel, unmodified
#   initrd.img   newc cpio (gzip): /init, /bin/busybox
#   VERSION      the kernel package that was fetched
# Idempotent: does nothing when both files exist. Exit 0 on success, 1 when Debian's archive
# cannot be reached (callers skip with a message), 2 for other failures.
set -u
O=${O:-build}
out=$O/linux
[ -s "$out/vmlinuz" ] && [ -s "$out/initrd.img" ] && exit 0
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null && command -v cpio >/dev/null ||
  { echo "linux-guest: needs apt-get, dpkg-deb and cpio (tools/install-deps.sh)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
if [ -z "$pkg" ]; then
  apt-get update -qq >/dev/null 2>&1 || true
  pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
fi
[ -n "$pkg" ] || { echo "linux-guest: linux-image-cloud-amd64 not found in the package lists" >&2; exit 1; }
(cd "$tmp" && apt-get download "$pkg" busybox-static >/dev/null 2>&1) ||
  { echo "linux-guest: apt-get download $pkg busybox-static failed" >&2; exit 1; }
dpkg-deb -x "$tmp"/linux-image-*.deb "$tmp/k" && dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/bb" ||
  { echo "linux-guest: cannot unpack the packages" >&2; exit 2; }
mkdir -p "$tmp/ir/bin" "$tmp/ir/proc" "$tmp/ir/sys" "$tmp/ir/dev" "$out"
cp "$tmp/bb/bin/busybox" "$tmp/ir/bin/busybox"
cat > "$tmp/ir/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox echo "mezzanine-initramfs: /init is running"
/bin/busybox poweroff -f
INIT
chmod 0755 "$tmp/ir/init"
(cd "$tmp/ir" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 > "$tmp/initrd.img" ||
  { echo "linux-guest: cannot build the initramfs" >&2; exit 2; }
cp "$tmp"/k/boot/vmlinuz-* "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$tmp/initrd.img" "$out/initrd.img"
echo "$pkg" > "$out/VERSION"
echo "linux-guest: $pkg and busybox-static in $out"
