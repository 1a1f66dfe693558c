#!/usr/bin/env bash
# Install the Debian 12 packages Mezzanine needs, only when something is missing.
# Used by `make run`, `make check` and CI alike. Idempotent: with everything present it only checks.
set -eu

PKGS=(
  gcc make pkg-config binutils          # toolchain
  libfdt-dev device-tree-compiler       # device trees (shim, tests)
  libmbedtls-dev                        # SHA-256/384 for IGVM measurement
  libcmocka-dev                         # unit tests
  linux-libc-dev                        # <linux/ioctl.h>, <linux/mshv.h> when new enough
  libunicorn-dev                        # hvsim's VTL0 CPU
  libjson-c-dev                         # mezz-igvm manifests and --json output
  libzydis-dev libcapstone-dev          # test oracles and benchmark peers only
  clang libclang-rt-14-dev llvm         # libFuzzer, sanitizers
  valgrind                              # instruction counts in `make bench`
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

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
echo "install-deps: done"
