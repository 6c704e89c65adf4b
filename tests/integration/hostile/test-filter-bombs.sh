#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Regular expressions in List and ListPage filters that once crashed laminad or took it
# seconds (glibc's regcomp()/regexec(), replaced by our own linear-time matcher): any user may
# List its own namespace without a grant, so each must be refused with InvalidArgument
# before anything is read, or answered at once. Against the real laminad and polkitd on a
# private bus, under LimitNOFILE=1024, by a user holding no grant: empty groups repeated
# ("(){1000}{1000}" overflowed glibc's stack and killed laminad; now a stacked repetition,
# refused as Go refuses it), "(|){300}" (too large a program), "a" and 1000 "*" (seconds of
# CPU in glibc; refused as in Go), "(()){1000}" (1.5 GB in glibc; now it compiles to nothing
# and lists). laminad stays the same process and still answers a plain pattern, and another
# user's snapshot is untouched. And a pattern glibc's matcher kept a new DFA state for at
# nearly every byte ("(a|b)*a(a|b){20}" over labels of a and b): 16 labels of 4 KiB took
# laminad ~300 MB and half a minute of CPU, 10 labels ~165 MB; with 10, its peak memory
# (VmHWM, reset before) now grows by less than 16 MiB (64 KiB measured), and the List is
# answered.
set -u
. "${LAMINA_SOURCE_DIR:?run through meson test}/tests/integration/hostile/hostile-lib.sh"
hostile_setup --idle-timeout 120

ATTACKER=$(harness_add_user rxattacker) # no grant at all
VICTIM=$(harness_add_user rxvictim)
HOG=$(harness_add_user rxhog) # granted: labels its own snapshots
polkit_private_grant manage-own "$VICTIM" "$HOG"

[ "$(tool "$VICTIM" call Prepare '(ssa{ss})' '["v-base", "", {"k": "v"}]')" = ok ] ||
        harness_die "the victim cannot Prepare"
PID=$(harness_laminad_pid)
[ -n "$PID" ] || harness_die "laminad is not running"

stars=$(printf '%1000s' '' | tr ' ' '*')
for refusal in '(){1000}{1000}:nested repetition' '(|){300}:too large' "a$stars:nested repetition" \
        '(a)\1:backreferences' '(?=a):lookahead'; do
        re=${refusal%:*}
        why=${refusal##*:}
        out=$(tool "$ATTACKER" list "name~=/$re/")
        check "List with ${re:0:24}: InvalidArgument, $why (${out:0:200})" \
                grep -q "^org.lamina.snapshot1.Error.InvalidArgument .*$why" <<<"$out"
        check "List with ${re:0:24}: laminad ($PID) is still on the bus" [ "$(harness_laminad_pid)" = "$PID" ]
done
out=$(tool "$ATTACKER" page 'name~=/(){1000}{1000}/')
check "ListPage with (){1000}{1000}: InvalidArgument (${out:0:200})" \
        grep -q '^org.lamina.snapshot1.Error.InvalidArgument .*nested repetition' <<<"$out"
check "ListPage: laminad ($PID) is still on the bus" [ "$(harness_laminad_pid)" = "$PID" ]
out=$(tool "$ATTACKER" list 'name~=/(()){1000}/')
check "List with (()){1000}: answered (${out:0:60})" grep -q '^ok [0-9]* ' <<<"$out"

for i in $(seq 10); do
        label=$(awk -v seed="$i" 'BEGIN { srand(seed); for (j = 0; j < 4000; j++) printf "%s", rand() < 0.5 ? "a" : "b" }')
        out=$(tool "$HOG" call Prepare '(ssa{ss})' "[\"d-$i\", \"\", {\"l\": \"$label\"}]")
        [ "$out" = ok ] || harness_die "the hog cannot Prepare: $out"
done
echo 5 >"/proc/$PID/clear_refs" || harness_die "cannot reset laminad's peak memory"
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$PID/status"; }
before=$(hwm_kib)
out=$(tool "$HOG" list 'labels.l~=/^(a|b)*a(a|b){20}$/')
grown=$(($(hwm_kib) - before))
check "List over 10 labels of a and b: answered (${out:0:60})" grep -q '^ok [0-9]* ' <<<"$out"
if grep -q libasan "/proc/$PID/maps"; then
        echo "# peak memory not judged: a sanitizer build keeps freed memory in quarantine ($grown KiB)"
else
        check "List over 10 labels of a and b: laminad's peak memory grew by $grown KiB (less than 16 MiB)" \
                [ "$grown" -lt 16384 ]
fi
check "List over 10 labels of a and b: laminad ($PID) is still on the bus" [ "$(harness_laminad_pid)" = "$PID" ]

out=$(tool "$VICTIM" list 'labels.k~=/^(v|w)*$/')
check "a plain pattern still lists the victim's snapshot ($out)" grep -q '^ok 1 ' <<<"$out"
out=$(tool "$VICTIM" call Stat '(s)' '["v-base"]')
check "the victim's snapshot is there ($out)" [ "$out" = ok ]

checks_done
echo "all checks passed"
