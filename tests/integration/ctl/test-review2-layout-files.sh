#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# An OCI image layout directory made by an attacker (unpacked by root, say) whose files are not
# regular files: a FIFO as index.json would block laminactl's open forever, a socket or a
# device would be read as the image. Each is refused at once as not a regular file, as in an
# archive.
. "$(dirname "$0")/ctl-lib.sh"

harness_setup

layout="$T/layout"
mkdir -p "$layout"
printf '{"imageLayoutVersion":"1.0.0"}\n' >"$layout/oci-layout"
mkfifo "$layout/index.json"
ctl_timed() {
        out=$(timeout 30 "$LAMINACTL" --no-pager "$@" 2>"$T/ctl.err")
        rc=$?
        err=$(cat "$T/ctl.err")
}
ctl_timed import "$layout"
if [ "$rc" = 124 ]; then
        fail "laminactl import of a layout whose index.json is a FIFO blocked (killed after 30 s)"
elif [ "$rc" = 0 ] || ! printf '%s\n' "$err" | grep -q "not a regular file"; then
        fail "a FIFO as index.json: exit $rc, $err"
else
        pass "a FIFO as index.json is refused ($err)"
fi

rm "$layout/index.json"
ln -s /dev/null "$layout/index.json" 2>/dev/null
mknod "$layout/manifest.json" c 1 3 2>/dev/null || ln -s /dev/null "$layout/manifest.json"
ctl_timed import "$layout"
if [ "$rc" = 0 ] || ! printf '%s\n' "$err" | grep -q "not a regular file\|cannot open"; then
        fail "a device as manifest.json: exit $rc, $err"
else
        pass "a device as manifest.json is refused ($err)"
fi
finish
