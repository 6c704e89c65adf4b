#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Issue 17: laminad's idle exit waits for the data Removes free in the background. With a
# 1 s idle timeout, Remove a tree whose freeing takes longer (thousands of nested
# directories and files); once laminad has exited by itself, snapshots/ holds nothing:
# it did not exit with frees pending (which would leave the rest for its next start).
set -eu
. "$LAMINA_SOURCE_DIR/tests/integration/lib/harness.sh"

SN=overlayfs
CTL=("$LAMINA_BUILD_DIR/src/ctl/laminactl" --no-pager -s "$SN")

[ "$(id -u)" = 0 ] || harness_skip "mounting a snapshot needs root"
harness_setup --idle-timeout 1

mkdir -p "$T/mnt/deep"
"${CTL[@]}" -q prepare --target "$T/mnt/deep" deep >/dev/null
python3 "$LAMINA_SOURCE_DIR/tests/integration/trees/build-tree.py" "$T/mnt/deep" 3000 10000 >/dev/null
"${CTL[@]}" -q umount deep
"${CTL[@]}" -q rm deep
# (laminad may have exited on idle before the rm, which started it again: ask only now.)
pid=$(harness_laminad_pid)
# Bounded: the free takes seconds; laminad exits on its own once it is done.
harness_wait_for 1200 harness_name_gone "$HARNESS_NAME" || harness_die "laminad did not exit on idle within 120 s"
[ -z "$pid" ] || harness_wait_for 300 harness_pid_gone "$pid" || harness_die "laminad $pid did not exit"
left=$(find "$T/state/$SN/snapshots" -mindepth 1 -maxdepth 1 | wc -l)
[ "$left" = 0 ] || harness_die "laminad exited on idle with $left entries still to free: $(ls "$T/state/$SN/snapshots")"
grep -q "idle; releasing" "$T/bus.log" || harness_die "laminad did not exit for being idle: $(tail -n 5 "$T/bus.log")"
harness_log "ok: laminad exited on idle only after freeing the removed tree"
