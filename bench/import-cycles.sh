#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bench/import-cycles.sh [N]: N cycles (default 30) of `laminactl import` of the Debian test
# image's docker-archive, `rmi` and `cleanup`, on one laminad on a private bus (the integration
# harness), each import right after the removal of the one before (8 733 files): per cycle the
# wall time and the CPU of laminad and its helpers. On an ext4 without a journal an import
# that lands where a removed tree was pays several times the CPU (bench/README, Import,
# session 6). Needs root, a build (LAMINA_BUILD_DIR, default build/) and the ctl-debian
# tests' corpus.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
n=${1:-30}
export LAMINA_BUILD_DIR=${LAMINA_BUILD_DIR:-$top/build} LAMINA_SOURCE_DIR=$top
# shellcheck source=../tests/integration/lib/harness.sh
. "$top/tests/integration/lib/harness.sh"
image=$(ls "${LAMINA_TEST_IMAGE_CACHE:-/var/cache/lamina-test-images}"/debian-*/debian-docker.tar 2>/dev/null | head -n 1)
[ -n "$image" ] || harness_die "no Debian image corpus; build it with: meson test -C build ctl-debian-overlayfs"
harness_setup --idle-timeout 3600
trap 'harness_cleanup' EXIT
ctl=("$LAMINA_BUILD_DIR/src/ctl/laminactl" --no-pager -q)
hz=$(getconf CLK_TCK)
"${ctl[@]}" ls >/dev/null
pid=$(harness_laminad_pid)
cpu() { awk -v hz="$hz" '{ printf "%.3f", ($14 + $15 + $16 + $17) / hz }' "/proc/$pid/stat"; }
for i in $(seq "$n"); do
        c0=$(cpu)
        s=$EPOCHREALTIME
        "${ctl[@]}" import --name debian:cycle "$image" >/dev/null
        e=$EPOCHREALTIME
        awk -v i="$i" -v s="$s" -v e="$e" -v c0="$c0" -v c="$(cpu)" \
                'BEGIN { printf "%d wall %.2f s cpu %.2f s\n", i, e - s, c - c0 }'
        "${ctl[@]}" rmi debian:cycle >/dev/null
        "${ctl[@]}" cleanup >/dev/null
done
