# Shared by the mezz-igvm script tests (sourced; the caller sets W, a scratch directory, and
# fails=0): one `ok - ...` / `not ok - ...` line per check.
ok() { echo "ok - $*"; }
nok() { echo "not ok - $*"; fails=$((fails + 1)); }
check() { local d=$1; shift; if "$@"; then ok "$d"; else nok "$d"; fi; }
# run BIN ARGS...: stdout -> $W/out.txt, stderr -> $W/err.txt, status -> $rc
run() { "$@" >"$W/out.txt" 2>"$W/err.txt"; rc=$?; }
# expect STATUS DESC BIN ARGS...: status must match and a failure must say something on stderr
expect() {
	local want=$1 d=$2; shift 2
	run "$@"
	if [ "$rc" -ne "$want" ]; then
		nok "$d (exit $rc, want $want: $(head -c 400 "$W/err.txt"))"
	elif [ "$want" -ne 0 ] && [ ! -s "$W/err.txt" ]; then
		nok "$d (exit $rc but no message)"
	else
		ok "$d"
	fi
}
