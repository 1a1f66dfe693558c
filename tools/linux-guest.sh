#!/usr/bin/env bash
# Fetch the real VTL0 guest from Debian (never committed): the cloud kernel's bzImage
# (linux-image-cloud-amd64, whatever 6.1 ABI it depends on today), the kernel modules VMBus
# storage needs from the same package, and busybox-static for two minimal initramfs images.
# initrd.img's /init mounts /proc, prints a marker line, the CPU count, the timer lines of
# /proc/interrupts twice (a second apart) and /proc/uptime, then powers off.
# initrd-vmbus.img's /init mounts /proc, /sys and devtmpfs, prints the same marker, insmods
# hv_vmbus, hv_storvsc, scsi_mod, sd_mod and what they depend on in dependency order (from
# the modules.dep that busybox's depmod writes for the package at build time: the package
# ships none), one "mezzanine-vmbus: insmod NAME ok|failed (why)" line each, waits up to 10 s
# for /dev/sda (when hv_storvsc loaded), prints its size (/sys/block/sda/size, 512-byte
# sectors), writes the 4 KiB pattern of vmbus-pattern at sector 2048 (O_DIRECT, fsync), drops
# the caches, reads it back with O_DIRECT and prints "mezzanine-vmbus: sda pattern ok" or
# "... mismatch", or "mezzanine-vmbus: no /dev/sda ..."; then the kernel log lines about
# vmbus/hv_/storvsc/scsi/sd ("mezzanine-vmbus: dmesg: ...") and powers off.
# Output in $O/linux/:
#   vmlinuz           the kernel, unmodified
#   busybox           busybox-static's binary
#   initrd.img        newc cpio (gzip): /init, /bin/busybox
#   init              the /init inside initrd.img (the initramfs is rebuilt when this
#                     script's copy differs)
#   modules/          NAME.ko for each module initrd-vmbus.img loads (uncompressed, unmodified
#                     when the package ships them uncompressed), modules.load (their load
#                     order, one NAME a line), modules.dep (depmod's lines for them), VERSION
#                     (the package), WANT (the wanted modules they were chosen for)
#   vmbus-pattern     the 4 KiB written to and read back from /dev/sda (128 lines
#                     "mezzanine-vmbus-pattern NNNNNNN")
#   initrd-vmbus.img  newc cpio (gzip): /init, /bin/busybox, /lib/modules/NAME.ko
#   init-vmbus        the /init inside initrd-vmbus.img (rebuilt when it differs)
#   VERSION           the kernel package that was fetched
# A $O/linux from before the modules existed is fetched again (kernel, modules and busybox
# from one package set, so the modules always match vmlinuz).
# Idempotent. Exit 0 on success, 1 when Debian's archive cannot be reached (callers skip with
# a message), 2 for other failures. When vmlinuz and busybox are here but the modules are not
# and the archive cannot be reached, initrd.img is still made and the exit is 0, with a
# message and without initrd-vmbus.img (its users skip when it is missing).
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
# The modules initrd-vmbus.img loads, with whatever modules.dep says they need.
want_modules="scsi_mod sd_mod hv_vmbus hv_storvsc"
pattern_fmt='mezzanine-vmbus-pattern %07d\n'  # 32 bytes a line
pattern_lines=128                              # 4 KiB
# @MODULES@, @PATTERN_FMT@ and @PATTERN_LINES@ are filled in below.
init_vmbus_template=$(cat <<'INIT'
#!/bin/busybox sh
bb=/bin/busybox
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
$bb mkdir -p /tmp
$bb echo "mezzanine-initramfs: /init is running"
say() { $bb echo "mezzanine-vmbus: $*"; }
# run NAME TENTHS CMD...: CMD in the background for at most TENTHS tenths of a second (a
# module init or an I/O that never returns must not stop the report); its exit status in
# $rc ("hung" when it did not finish), its output on one line in $msg.
run() {
  local n=$1 lim=$2 i=0
  shift 2
  ( "$@" >/tmp/$n.out 2>&1; $bb echo $? >/tmp/$n.rc ) &
  while ! [ -s /tmp/$n.rc ] && [ $i -lt $lim ]; do $bb usleep 100000; i=$((i + 1)); done
  rc=$($bb cat /tmp/$n.rc 2>/dev/null)
  [ -n "$rc" ] || rc=hung
  msg=$($bb tr '\n' ' ' </tmp/$n.out 2>/dev/null | $bb sed 's/ *$//')
}
loaded=" "
for m in @MODULES@; do
  run insmod-$m 300 $bb insmod /lib/modules/$m.ko
  if [ "$rc" = 0 ]; then say "insmod $m ok"; loaded="$loaded$m "
  elif [ "$rc" = hung ]; then say "insmod $m failed (its init has not returned after 30 s)"
  else say "insmod $m failed (${msg:-exit status $rc})"
  fi
done
case $loaded in
*" hv_storvsc "*)
  i=0
  while ! [ -b /dev/sda ] && [ $i -lt 50 ]; do $bb usleep 200000; i=$((i + 1)); done
  [ -b /dev/sda ] || say "no /dev/sda after 10 s"
  ;;
*) say "no /dev/sda (hv_storvsc is not loaded)" ;;
esac
if [ -b /dev/sda ]; then
  say "sda size $($bb cat /sys/block/sda/size) sectors"
  i=0
  while [ $i -lt @PATTERN_LINES@ ]; do printf '@PATTERN_FMT@' $i; i=$((i + 1)); done >/tmp/pattern
  run write 300 $bb dd if=/tmp/pattern of=/dev/sda bs=512 seek=2048 count=8 oflag=direct conv=fsync,notrunc
  [ "$rc" = 0 ] || say "sda write failed (status $rc: $msg)"
  $bb sync
  $bb echo 3 >/proc/sys/vm/drop_caches
  $bb blockdev --flushbufs /dev/sda
  run read 300 $bb dd if=/dev/sda of=/tmp/readback bs=512 skip=2048 count=8 iflag=direct
  [ "$rc" = 0 ] || say "sda read failed (status $rc: $msg)"
  if $bb cmp -s /tmp/pattern /tmp/readback; then say "sda pattern ok"
  else
    say "sda pattern mismatch ($($bb cmp /tmp/pattern /tmp/readback 2>&1 | $bb head -1))"
    $bb hexdump -C -n 64 /tmp/readback | $bb sed 's/^/mezzanine-vmbus: sda read: /'
  fi
fi
$bb dmesg | $bb grep -iE 'vmbus|hv_|storvsc|scsi|sd [0-9]+:' | $bb sed 's/^/mezzanine-vmbus: dmesg: /'
$bb poweroff -f
INIT
)
mkdir -p "$out" || exit 2
tmp=
ir=
trap 'rm -rf ${tmp:+"$tmp"} ${ir:+"$ir"}' EXIT
# The modules are complete when the load list (written last) names files that are all here,
# they come from the package vmlinuz came from and were chosen for today's want_modules.
modules_ok() {
  [ -s "$out/modules/modules.load" ] &&
    [ "$(cat "$out/modules/VERSION" 2>/dev/null)" = "$(cat "$out/VERSION" 2>/dev/null)" ] &&
    [ "$(cat "$out/modules/WANT" 2>/dev/null)" = "$want_modules" ] || return 1
  local m
  while read -r m; do [ -s "$out/modules/$m.ko" ] || return 1; done <"$out/modules/modules.load"
}
# stage_modules KROOT DIR: the wanted modules of the unpacked kernel package KROOT and their
# dependencies into DIR (flat NAME.ko), with modules.load in dependency order.
stage_modules() {
  local k=$1 dir=$2 kver mdir m f
  kver=$(ls "$k/lib/modules" 2>/dev/null)
  [ -n "$kver" ] && [ "$(printf '%s\n' "$kver" | wc -l)" -eq 1 ] ||
    { echo "linux-guest: expected one kernel version in the package, found: ${kver:-none}" >&2; return 2; }
  mdir=$k/lib/modules/$kver
  # The package ships no modules.dep (its postinst runs depmod); busybox's depmod writes one.
  "$tmp/bb/bin/busybox" depmod -b "$k" "$kver" && [ -s "$mdir/modules.dep" ] ||
    { echo "linux-guest: depmod failed on the kernel package's modules" >&2; return 2; }
  mkdir -p "$dir" || return 2
  # Depth first over modules.dep: every module after what it depends on. A wanted module the
  # kernel has built in (modules.builtin) is not loaded.
  awk -v want="$want_modules" -v builtin="$mdir/modules.builtin" '
    function base(p) { sub(/.*\//, "", p); sub(/\.ko(\.[a-z]+)?$/, "", p); return p }
    function visit(m,   i, n, d) {
      if (m in done) return
      if (!(m in path)) {
        if (m in inkernel) return
        printf "linux-guest: module %s is neither in modules.dep nor built in\n", m > "/dev/stderr"
        bad = 1; return
      }
      done[m] = 1
      n = split(deps[m], d, " ")
      for (i = 1; i <= n; i++) visit(base(d[i]))
      print m, path[m]
    }
    FILENAME == builtin { inkernel[base($0)] = 1; next }
    { f = $1; sub(/:$/, "", f); m = base(f); path[m] = f; $1 = ""; deps[m] = $0 }
    END { n = split(want, w, " "); for (i = 1; i <= n; i++) visit(w[i]); exit bad }
  ' "$mdir/modules.builtin" "$mdir/modules.dep" >"$dir/order" ||
    { echo "linux-guest: cannot work out the modules' load order" >&2; return 2; }
  : >"$dir/modules.dep"
  while read -r m f; do
    case $f in
    *.ko) cp "$mdir/$f" "$dir/$m.ko" ;;
    *.ko.xz) xz -dc "$mdir/$f" >"$dir/$m.ko" ;;
    *.ko.zst) zstd -qdc "$mdir/$f" >"$dir/$m.ko" ;;
    *) false ;;
    esac || { echo "linux-guest: cannot store module $f (a .ko.xz needs xz-utils, a .ko.zst zstd)" >&2; return 2; }
    awk -v f="$f:" '$1 == f' "$mdir/modules.dep" >>"$dir/modules.dep"
    echo "$m" >>"$dir/modules.load.tmp"
  done <"$dir/order"
  rm -f "$dir/order"
  [ -s "$dir/modules.load.tmp" ] ||
    { echo "linux-guest: the kernel has all of $want_modules built in: nothing to load" >&2; return 2; }
  echo "$want_modules" >"$dir/WANT" && mv "$dir/modules.load.tmp" "$dir/modules.load"
}
if ! [ -s "$out/vmlinuz" ] || ! [ -s "$out/busybox" ] || ! modules_ok; then
  have_guest=0
  [ -s "$out/vmlinuz" ] && [ -s "$out/busybox" ] && have_guest=1
  # unreachable MESSAGE: exit 1, or go on without the modules when the old guest is here.
  unreachable() {
    echo "linux-guest: $1" >&2
    [ $have_guest -eq 1 ] || exit 1
    echo "linux-guest: keeping the guest in $out without the VMBus modules (no initrd-vmbus.img)" >&2
    no_vmbus=1
  }
  no_vmbus=0
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
    { echo "linux-guest: needs apt-get and dpkg-deb (tools/install-deps.sh)" >&2; exit 2; }
  tmp=$(mktemp -d)
  pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
  if [ -z "$pkg" ]; then
    apt-get update -qq >/dev/null 2>&1 || true
    pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }')
  fi
  if [ -z "$pkg" ]; then
    unreachable "linux-image-cloud-amd64 not found in the package lists"
  elif ! (cd "$tmp" && apt-get download "$pkg" busybox-static >/dev/null 2>&1); then
    unreachable "apt-get download $pkg busybox-static failed"
  fi
  if [ $no_vmbus -eq 0 ]; then
    dpkg-deb -x "$tmp"/linux-image-*.deb "$tmp/k" && dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/bb" ||
      { echo "linux-guest: cannot unpack the packages" >&2; exit 2; }
    stage_modules "$tmp/k" "$tmp/modules" || exit 2
    echo "$pkg" >"$tmp/modules/VERSION"
    # Old modules go first: vmlinuz and the modules only count as a pair once VERSION says so.
    rm -rf "$out/modules" "$out/initrd-vmbus.img" &&
      cp "$tmp/bb/bin/busybox" "$out/busybox.tmp" && mv "$out/busybox.tmp" "$out/busybox" &&
      cp "$tmp"/k/boot/vmlinuz-* "$out/vmlinuz.tmp" && mv "$out/vmlinuz.tmp" "$out/vmlinuz" &&
      mv "$tmp/modules" "$out/modules" ||
      { echo "linux-guest: cannot store the kernel, its modules and busybox in $out" >&2; exit 2; }
    echo "$pkg" > "$out/VERSION"
    rm -f "$out/initrd.img"
    echo "linux-guest: $pkg (with $(tr '\n' ' ' <"$out/modules/modules.load" | sed 's/ $//')) and busybox-static in $out"
  fi
fi
command -v cpio >/dev/null || { echo "linux-guest: needs cpio (tools/install-deps.sh)" >&2; exit 2; }
# mkinitrd IMAGE INITCOPY INITTEXT [FILE DEST]...: IMAGE (newc cpio, gzip) with /init =
# INITTEXT, /bin/busybox and each FILE at DEST, unless IMAGE is there and INITCOPY (the copy
# of its /init) says INITTEXT is what it holds.
mkinitrd() {
  local img=$1 copy=$2 text=$3
  shift 3
  if [ -s "$img" ] && [ "$(cat "$copy" 2>/dev/null)" = "$text" ]; then
    return 0
  fi
  rm -rf "$ir"
  ir=$(mktemp -d)
  mkdir -p "$ir/bin" "$ir/proc" "$ir/sys" "$ir/dev" &&
    cp "$out/busybox" "$ir/bin/busybox" && printf '%s\n' "$text" > "$ir/init" && chmod 0755 "$ir/init" "$ir/bin/busybox" ||
    { echo "linux-guest: cannot stage the initramfs" >&2; exit 2; }
  while [ $# -ge 2 ]; do
    mkdir -p "$ir/$(dirname "$2")" && cp "$1" "$ir/$2" ||
      { echo "linux-guest: cannot stage $1 in the initramfs" >&2; exit 2; }
    shift 2
  done
  (cd "$ir" && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) | gzip -9 > "$img.tmp" &&
    mv "$img.tmp" "$img" && printf '%s\n' "$text" > "$copy" ||
    { echo "linux-guest: cannot build the initramfs $img" >&2; rm -f "$img.tmp"; exit 2; }
}
mkinitrd "$out/initrd.img" "$out/init" "$init"
if ! modules_ok; then # only after an unreachable archive (above)
  rm -f "$out/initrd-vmbus.img"
  exit 0
fi
printf "$pattern_fmt" $(seq 0 $((pattern_lines - 1))) >"$out/vmbus-pattern.tmp" &&
  mv "$out/vmbus-pattern.tmp" "$out/vmbus-pattern" ||
  { echo "linux-guest: cannot write $out/vmbus-pattern" >&2; exit 2; }
order=$(tr '\n' ' ' <"$out/modules/modules.load")
init_vmbus=${init_vmbus_template//@MODULES@/"${order% }"}
init_vmbus=${init_vmbus//@PATTERN_FMT@/"$pattern_fmt"}
init_vmbus=${init_vmbus//@PATTERN_LINES@/"$pattern_lines"}
files=()
for m in $order; do files+=("$out/modules/$m.ko" "lib/modules/$m.ko" ); done
mkinitrd "$out/initrd-vmbus.img" "$out/init-vmbus" "$init_vmbus" "${files[@]}"
