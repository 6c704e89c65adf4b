#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# import-tar takes back the layer it made only when laminad refused the name (AlreadyExists,
# --no-replace), never when its CreateImage went unanswered: laminad killed after writing the
# image and before answering (NoReply) made laminactl remove the image's new top, leaving a
# name for nothing (the crash campaign's "image c0-img-7: its top is gone"). The bus-hold shim
# (bus-hold.c) holds the moment: laminad's answer to CreateImage (laminad-bus-hold.sh), and
# laminactl's CreateImageWithOptions call while another image takes the name.
. "$(dirname "$0")/ctl-lib.sh"

export LAMINA_LAMINAD="$LAMINA_SOURCE_DIR/tests/integration/ctl/laminad-bus-hold.sh"
harness_setup

mkdir -p "$T/a" "$T/b"
echo a >"$T/a/a"
echo b >"$T/b/b"
make_layer "$T/a" "$T/a.tar"
make_layer "$T/b" "$T/b.tar"
ca=$(tar_digest "$T/a.tar")
cb=$(tar_digest "$T/b.tar")

# import_bg NAME COMMAND…: COMMAND… in the background (output in $T/NAME.out, .err), its PID
# in $pid.
import_bg() {
        _name=$1
        shift
        "$@" >"$T/$_name.out" 2>"$T/$_name.err" &
        pid=$!
        harness_record_pid laminactl "$pid"
}

# import_rc: waits for the background laminactl (at most 120 s); its exit code in $rc.
import_rc() {
        if harness_wait_for 1200 harness_pid_gone "$pid"; then
                wait "$pid"
                rc=$?
        else
                rc=timeout
        fi
}

kind_of() { # KEY: what ls says KEY is (committed, active, view), empty when there is none
        ctl --json=short ls
        json "map(select(.name == \"$1\") | .kind) | join(\",\")"
}

ok "laminad runs" ls
[ "$(tr '\0' '\n' <"/proc/$(harness_laminad_pid)/environ" | grep -c '^LD_PRELOAD=.*bus-hold.so$')" = 1 ] ||
        harness_die "laminad runs without the bus-hold shim"

# 1. CreateImage unanswered: laminad holds its answer (the image written), then is SIGKILLed;
# the bus tells laminactl NoReply.
mkdir "$T/hold-answer"
import_bg held "$LAMINACTL" --no-pager import-tar "$T/a.tar" --name held:1
if harness_wait_for 1200 test -e "$T/hold-answer/held"; then
        pass "laminad holds its answer to import-tar's CreateImage"
else
        fail "laminad never held an answer to CreateImage: $(cat "$T/held.err")"
fi
rm -r "$T/hold-answer"
held=$(harness_pid_id "$(harness_laminad_pid)")
[ -n "$held" ] || harness_die "no laminad on the bus to kill"
harness_signal_id KILL "$held"
harness_wait_for 600 harness_pid_gone "${held%/*}" "${held#*/}" || harness_die "laminad $held did not die"
import_rc
expect "import-tar without an answer fails" "$rc" 1
expect "it says laminad did not answer" "$(grep -c 'did not answer' "$T/held.err")" 1
ok "images" --json=short images
expect "the image is there, its top the imported layer" "$(json 'map([.name, .snapshot])')" "[[\"held:1\",\"$ca\"]]"
expect "the image's top stays, committed" "$(kind_of "$ca")" committed
ok "a view of the image" view check held:1
[ "$rc" != 0 ] || ok "rm the view" rm check

# 2. A name refused by laminad (AlreadyExists answered to CreateImageWithOptions, --no-replace):
# the layer this import made goes. laminactl found the name free; before it asks laminad to
# write it, another image takes it.
mkdir "$T/hold-call"
import_bg refused env LAMINA_HOLD_CALL="$T/hold-call" LD_PRELOAD="$LAMINA_BUILD_DIR/tests/integration/ctl/bus-hold.so" \
        "$LAMINACTL" --no-pager import-tar "$T/b.tar" --name race:1 --no-replace
if harness_wait_for 1200 test -e "$T/hold-call/held"; then
        pass "laminactl holds its CreateImageWithOptions"
else
        fail "laminactl never held its CreateImageWithOptions: $(cat "$T/refused.err")"
fi
expect "the import committed its layer" "$(kind_of "$cb")" committed
ok "another image takes the name meanwhile" tag held:1 race:1
touch "$T/hold-call/go"
import_rc
expect "import-tar --no-replace refused by laminad fails" "$rc" 1
expect "it says the name stands for another image" "$(grep -c 'stands for another' "$T/refused.err")" 1
expect "the layer the refused import made went" "$(kind_of "$cb")" ""
ok "images" --json=short images
expect "race:1 stays the other image" "$(json 'map(select(.name == "race:1") | .snapshot)')" "[\"$ca\"]"
finish
