#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs what is missing, builds lamina twice (plain, and with ASan+UBSan), runs every
# test suite (unit, integration, nspawn, fuzz), the unit suite and the daemon's key integration
# tests again under the sanitizers, and the benchmark's quick mode as a smoke test; ends
# with "N passed, N failed, N skipped".
# Exits non-zero on any failure. Run as root on Debian 12.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

if [ "$(id -u)" != 0 ]; then
        echo "run-tests: run as root (mounts, users, polkit and nspawn tests need it)" >&2
        exit 2
fi

"$top/tools/install-deps.sh" || exit 1

build=${LAMINA_BUILD_DIR:-$top/build}
asan=${LAMINA_ASAN_BUILD_DIR:-$top/build-asan}

configure() { # dir, extra meson args…
        local dir=$1; shift
        if [ -f "$dir/build.ninja" ]; then
                meson setup --reconfigure "$dir" "$@" >/dev/null
        else
                meson setup "$dir" "$@" >/dev/null
        fi
}

configure "$build" || exit 1
ninja -C "$build" >/dev/null || { ninja -C "$build"; exit 1; }
configure "$asan" -Db_sanitize=address,undefined -Db_lundef=false || exit 1
ninja -C "$asan" >/dev/null || { ninja -C "$asan"; exit 1; }

status=0
run_suite() { # dir, label, meson test args…
        local dir=$1 label=$2; shift 2
        echo "=== $label"
        meson test -C "$dir" --print-errorlogs --num-processes 2 --timeout-multiplier 3 "$@" || status=1
        cp "$dir/meson-logs/testlog.json" "$top/build-testlog-$label.json" 2>/dev/null || true
}

rm -f "$top"/build-testlog-*.json
run_suite "$build" unit --suite unit
run_suite "$build" integration --suite integration
run_suite "$build" nspawn --suite nspawn
run_suite "$build" fuzz --suite fuzz
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        run_suite "$asan" asan-unit --suite unit
# The daemon under the sanitizers on real buses: polkit checks with callers leaving
# mid-check, containerd's suite, mounts with a daemon killed and restarted, and hostile users.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        run_suite "$asan" asan-integration auth-polkit bus-suite-overlayfs mount-bus hostile
if [ -x "$top/bench/run" ]; then
        echo "=== bench --quick (smoke: every figure produced; no speed is asserted)"
        if "$top/bench/run" --quick >"$top/build-bench-quick.log" 2>&1; then
                echo "bench-quick: ok"; bench=pass
        else
                tail -20 "$top/build-bench-quick.log"; bench=fail; status=1
        fi
fi

python3 - "${bench:-none}" "$top"/build-testlog-*.json <<'PY'
import json, sys
bench, files = sys.argv[1], sys.argv[2:]
passed = failed = skipped = 0
for f in files:
    for line in open(f):
        line = line.strip()
        if not line:
            continue
        r = json.loads(line).get("result", "")
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
if bench == "pass":
    passed += 1
elif bench == "fail":
    failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
summary=$?
[ $status -eq 0 ] && [ $summary -eq 0 ]
