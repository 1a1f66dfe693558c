#!/usr/bin/env bash
# Install what Mezzanine needs, only when something is missing: Debian 12 packages, and
# unicorn 2.1.4 (hvsim's VTL0 CPU) built from the Python package registry's sdist with the
# patches in tools/unicorn-patches/, installed into a project-local prefix (default
# .deps/unicorn-2.1.4-p1, the Makefile's UNICORN_PREFIX). unicorn is the one dependency not
# taken from Debian: Debian 12's 2.0.1 ignores guest page tables for the physical address and
# aborts the process on a few invalid encodings, and 2.1.4 as released still aborts on LOCK
# with a register operand (docs/hvsim.md, "Which unicorn").
# Used by `make run`, `make check` and CI alike. Idempotent: with everything present it only checks.
set -eu

PKGS=(
  gcc make pkg-config binutils          # toolchain
  cmake patch                           # builds the patched unicorn (below)
  libfdt-dev device-tree-compiler       # device trees (shim, tests)
  libmbedtls-dev                        # SHA-256/384 for IGVM measurement
  libcmocka-dev                         # unit tests
  linux-libc-dev                        # <linux/ioctl.h>, <linux/mshv.h> when new enough
  python3-pip                           # fetches the unicorn sdist (below)
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

# ---- unicorn 2.1.4: the registry's sdist, pinned by sha256, patched, built for x86 only ----
# The stamp in the prefix names the sdist's hash and each patch's; a changed, added or removed
# patch rebuilds. The manifest (SHA256SUMS) covers the installed headers and library.
UNICORN_VERSION=2.1.4
UNICORN_SDIST=unicorn-2.1.4.tar.gz
UNICORN_SHA256=00567a70e323f749b419cd86bee4f9115beab7ebba32194581c090cbb7c59cff
root=$(cd "$(dirname "$0")/.." && pwd)
prefix=${UNICORN_PREFIX:-$root/.deps/unicorn-$UNICORN_VERSION-p1}
patchdir=$root/tools/unicorn-patches
patches=()
for p in "$patchdir"/*.patch; do
  [ -e "$p" ] && patches+=("$p")
done

stamp=$(echo "$UNICORN_SHA256  $UNICORN_SDIST"
        for p in "${patches[@]}"; do
          echo "$(sha256sum <"$p" | cut -c1-64)  $(basename "$p")"
        done)
current() {
  [ "$(cat "$prefix/SOURCE_SHA256" 2>/dev/null)" = "$stamp" ] &&
    (cd "$prefix" && sha256sum -c --quiet --status SHA256SUMS 2>/dev/null)
}
current && exit 0

# One build at a time per prefix (several checkouts' `make check` may start together).
mkdir -p "$(dirname "$prefix")"
exec 9>"$prefix.lock"
flock 9
current && exit 0

# Debian's pip (python3-pip above), whatever python3 comes first in PATH.
py=/usr/bin/python3
[ -x "$py" ] || py=python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$prefix.new"' EXIT
start=$(date +%s)
echo "install-deps: building unicorn $UNICORN_VERSION (${#patches[@]} patch(es)) into $prefix"
# --require-hashes makes pip pick and accept only the file with this hash. --no-binary names
# only unicorn: pip still prepares the sdist's metadata, and `:all:` would also build its build
# requirements (setuptools, setuptools-scm, build) from source, 30 s for nothing.
echo "unicorn==$UNICORN_VERSION --hash=sha256:$UNICORN_SHA256" >"$tmp/req.txt"
"$py" -m pip download -q --disable-pip-version-check --no-input --no-deps \
  --no-binary unicorn --require-hashes -r "$tmp/req.txt" -d "$tmp/dl"
echo "$UNICORN_SHA256  $tmp/dl/$UNICORN_SDIST" | sha256sum -c --quiet
tar -xzf "$tmp/dl/$UNICORN_SDIST" -C "$tmp"
src=$tmp/unicorn-$UNICORN_VERSION/src
if [ ! -f "$src/CMakeLists.txt" ] || [ ! -f "$src/include/unicorn/unicorn.h" ]; then
  echo "install-deps: the unicorn sdist lacks src/CMakeLists.txt or its headers" >&2
  exit 1
fi
for p in "${patches[@]}"; do
  echo "install-deps: applying $(basename "$p")"
  if ! patch -p1 -d "$src" --batch --forward --fuzz=0 --no-backup-if-mismatch <"$p" \
       >"$tmp/patch.log" 2>&1; then
    cat "$tmp/patch.log" >&2
    echo "install-deps: $p does not apply to unicorn $UNICORN_VERSION" >&2
    exit 1
  fi
done

# Only the x86 target, only the shared library (no tests, samples or v1-style archive).
log=$tmp/build.log
if ! cmake -S "$src" -B "$tmp/build" -DUNICORN_ARCH=x86 -DCMAKE_BUILD_TYPE=Release \
       -DUNICORN_BUILD_TESTS=OFF -DUNICORN_LEGACY_STATIC_ARCHIVE=OFF >"$log" 2>&1 ||
   ! cmake --build "$tmp/build" --target unicorn -j "$(nproc 2>/dev/null || echo 1)" >>"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "install-deps: building unicorn $UNICORN_VERSION failed (log above)" >&2
  exit 1
fi

rm -rf "$prefix.new"
mkdir -p "$prefix.new/include/unicorn" "$prefix.new/lib"
cp "$src"/include/unicorn/*.h "$prefix.new/include/unicorn/"
cp -L "$tmp/build/libunicorn.so.2" "$prefix.new/lib/libunicorn.so.2"
chmod 0755 "$prefix.new/lib/libunicorn.so.2"
ln -s libunicorn.so.2 "$prefix.new/lib/libunicorn.so"
(cd "$prefix.new" && find include lib -type f | sort | xargs sha256sum >SHA256SUMS)
echo "$stamp" >"$prefix.new/SOURCE_SHA256"
rm -rf "$prefix"
mv "$prefix.new" "$prefix"
echo "install-deps: unicorn $UNICORN_VERSION done in $(($(date +%s) - start)) s"
