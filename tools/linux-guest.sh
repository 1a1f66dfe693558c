#!/usr/bin/env bash
# Fetch the real VTL0 guest from Debian (never committed): the cloud kernel's bzImage
# (linux-image-cloud-amd64, whatever 6.1 ABI it depends on today) and busybox-static for a
# minimal initramfs. Its /init mounts /proc, prints a marker line, the CPU count, the timer
# lines of /proc/interrupts twice (a second apart) and /proc/uptime, then powers off.
# Output in $O/linux/:
#   vmlinuz      the kernel, unmodified
#   busybox      busybox-static's binary
#   initrd.img   newc cpio (gzip): /init, /bin/busybox
#   init         the /init inside initrd.img (the initramfs is rebuilt when this script's
#                copy differs)
#   VERSION      the kernel package that was fetched
# Idempotent. Exit 0 on success, 1 when Debian's archive cannot be reached (callers skip with
# a message), 2 for other failures.
set -u
O=${O:-build}
out=$O/linux
init=$(cat <<'INIT'
#!/bin/busybox sh
bb=/bin/busybox
$bb mount -t proc proc /proc
$bb echo "mezzanine-initramfs: /init is running"
$bb echo "mezzanine-initramfs: cpus $($bb grep -c ^processor /proc/cpuinfo)"
$bb grep -E '^ *(LOC|HVS|0):' /proc/interrupts | $bb sed 's/^/mezzanine-initramfs: timer-a /'
$bb sleep 1
$bb grep -E '^ *(LOC|HVS|0):' /proc/interrupts | $bb sed 's/^/mezzanine-initramfs: timer-b /'
$bb echo "mezzanine-initramfs: uptime $($bb cat /proc/uptime)"
$bb poweroff -f
INIT
)
mkdir -p "$out" || exit 2
if ! [ -s "$out/vmlinuz" ] || ! [ -s "$out/busybox" ]; then
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
    { echo "linux-guest: needs apt-get and dpkg-deb (tools/install-deps.sh)" >&2; exit 2; }
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
  cp "$tmp/bb/bin/busybox" "$out/busybox.tmp" && mv "$out/busybox.tmp" "$out/busybox" &&
    cp "$tmp"/k/boot/vmlinuz-* "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz" ||
    { echo "linux-guest: cannot store the kernel and busybox in $out" >&2; exit 2; }
  echo "$pkg" > "$out/VERSION"
  rm -f "$out/initrd.img"
  echo "linux-guest: $pkg and busybox-static in $out"
fi
if [ -s "$out/initrd.img" ] && [ "$(cat "$out/init" 2>/dev/null)" = "$init" ]; then
  exit 0
fi
command -v cpio >/dev/null || { echo "linux-guest: needs cpio (tools/install-deps.sh)" >&2; exit 2; }
ir=$(mktemp -d)
trap 'rm -rf "$ir" ${tmp:+"$tmp"}' EXIT
mkdir -p "$ir/bin" "$ir/proc" "$ir/sys" "$ir/dev"
cp "$out/busybox" "$ir/bin/busybox" && printf '%s\n' "$init" > "$ir/init" && chmod 0755 "$ir/init" "$ir/bin/busybox" ||
  { echo "linux-guest: cannot stage the initramfs" >&2; exit 2; }
(cd "$ir" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 > "$out/initrd.img.tmp" &&
  mv "$out/initrd.img.tmp" "$out/initrd.img" && printf '%s\n' "$init" > "$out/init" ||
  { echo "linux-guest: cannot build the initramfs" >&2; rm -f "$out/initrd.img.tmp"; exit 2; }
