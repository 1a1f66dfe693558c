#!/usr/bin/env bash
# Install what Mezzanine needs, only when something is missing: Debian 12 packages, and
# unicorn 2.1.4 (hvsim's VTL0 CPU) from the Python package registry's wheel, unpacked into a
# project-local prefix (default .deps/unicorn-2.1.4, the Makefile's UNICORN_PREFIX). unicorn is
# the one dependency not taken from Debian: Debian 12's 2.0.1 ignores guest page tables for the
# physical address and aborts the process on a few invalid encodings (docs/hvsim.md).
# Used by `make run`, `make check` and CI alike. Idempotent: with everything present it only checks.
set -eu

PKGS=(
  gcc make pkg-config binutils          # toolchain
  libfdt-dev device-tree-compiler       # device trees (shim, tests)
  libmbedtls-dev                        # SHA-256/384 for IGVM measurement
  libcmocka-dev                         # unit tests
  linux-libc-dev                        # <linux/ioctl.h>, <linux/mshv.h> when new enough
  python3-pip                           # fetches the unicorn wheel (below)
  libjson-c-dev                         # mezz-igvm manifests and --json output
  libzydis-dev libcapstone-dev          # test oracles and benchmark peers only
  clang libclang-rt-14-dev llvm         # libFuzzer, sanitizers
  valgrind                              # instruction counts in `make bench`
  acpica-tools                          # iasl: disassembles the ACPI tables in tests
  cpio                                  # the Linux guest's initramfs (tools/linux-guest.sh)
  qemu-system-x86                       # QEMU TCG: the `make bench` peer only (linux_boot.sh)
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -ne 0 ]; then
  echo "install-deps: installing missing packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
  elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-deps: not root and no sudo; please install as root:" >&2
    echo "  apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "install-deps: packages done"
fi

# ---- unicorn 2.1.4 from its wheel, pinned by version and sha256 ----
# The abi3 manylinux2014 x86_64 wheel carries the C headers (unicorn/include/unicorn/*.h) and
# libunicorn.so.2; only those are unpacked. The build links with an rpath into the prefix.
UNICORN_VERSION=2.1.4
UNICORN_WHEEL=unicorn-2.1.4-cp37-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
UNICORN_SHA256=9d6e6dea140560de4ebd8446661f7ef84a357d428c14a3ef09dacd306ec8c239
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=${UNICORN_PREFIX:-$root/.deps/unicorn-$UNICORN_VERSION}

# Present and intact: the stamp names the wheel's hash, the manifest the unpacked files'.
if [ "$(cat "$prefix/WHEEL_SHA256" 2>/dev/null)" = "$UNICORN_SHA256" ] &&
   (cd "$prefix" && sha256sum -c --quiet --status SHA256SUMS 2>/dev/null); then
  exit 0
fi

# Debian's pip (python3-pip above), whatever python3 comes first in PATH.
py=/usr/bin/python3
[ -x "$py" ] || py=python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$prefix.new"' EXIT
echo "install-deps: fetching unicorn $UNICORN_VERSION into $prefix"
# --require-hashes makes pip pick and accept only the file with this hash.
echo "unicorn==$UNICORN_VERSION --hash=sha256:$UNICORN_SHA256" >"$tmp/req.txt"
"$py" -m pip download -q --disable-pip-version-check --no-input --no-deps \
  --only-binary=:all: --require-hashes -r "$tmp/req.txt" -d "$tmp/dl"
echo "$UNICORN_SHA256  $tmp/dl/$UNICORN_WHEEL" | sha256sum -c --quiet

rm -rf "$prefix.new"
mkdir -p "$prefix.new"
"$py" - "$tmp/dl/$UNICORN_WHEEL" "$prefix.new" <<'PY'
import os, sys, zipfile
whl, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(whl) as z:
    names = [n for n in z.namelist()
             if (n.startswith("unicorn/include/unicorn/") and n.endswith(".h"))
             or n == "unicorn/lib/libunicorn.so.2"]
    if "unicorn/include/unicorn/unicorn.h" not in names or "unicorn/lib/libunicorn.so.2" not in names:
        sys.exit("install-deps: the unicorn wheel lacks its headers or libunicorn.so.2")
    for n in names:
        dst = os.path.join(out, n[len("unicorn/"):])
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with z.open(n) as src, open(dst, "wb") as f:
            f.write(src.read())
PY
chmod 0755 "$prefix.new/lib/libunicorn.so.2"
ln -s libunicorn.so.2 "$prefix.new/lib/libunicorn.so"
(cd "$prefix.new" && find include lib -type f | sort | xargs sha256sum >SHA256SUMS)
echo "$UNICORN_SHA256" >"$prefix.new/WHEEL_SHA256"
rm -rf "$prefix"
mkdir -p "$(dirname "$prefix")"
mv "$prefix.new" "$prefix"
echo "install-deps: unicorn $UNICORN_VERSION done"
