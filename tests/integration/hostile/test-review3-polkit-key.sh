#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# polkit rules may match the "key" detail of a check exactly (docs/polkit.md: "match on keys
# made of these characters, or on a prefix"). The detail is the key as a prompt may show it
# (at most 64 characters of a safe set), and it used to be the same for different keys: any
# other character became "_" and a longer key was cut to 61 characters and "...", both
# themselves keys a rule could name. A rule granting one key then granted every key shown
# alike: "r3!cache" for "r3_cache", and any long key for the 64-character key "<61 a>...".
# Now a key that is not shown as it is carries a "?" (never in a key shown as it is): a rule
# on a key matches that key alone, a rule on a prefix still matches the longer keys. Against
# the real laminad and real polkitd with its own rules file; the user holds no other grant.
set -u
. "${LAMINA_SOURCE_DIR:?run through meson test}/tests/integration/hostile/hostile-lib.sh"
hostile_setup --idle-timeout 120

U=$(harness_add_user r3pk)
a61=$(printf 'a%.0s' $(seq 61))
cat >"$LAMINA_POLKIT_RULES/50-review3-key.rules" <<RULE
polkit.addRule(function(action, subject) {
        var key = action.lookup("key");
        if (subject.user == "$U" && action.id == "org.lamina.snapshot1.manage-own" &&
            (key == "r3_cache" || key == "${a61}..." || key.indexOf("pre-") == 0))
                return polkit.Result.YES;
});
RULE
polkit_private_start

prepare() { # KEY: ok, or the error's message
        as "$U" busctl call --allow-interactive-authorization=no org.lamina.snapshot1 \
                /org/lamina/snapshot1/overlayfs org.lamina.snapshot1.Snapshotter Prepare 'ssa{ss}' "$1" "" 0 \
                >/dev/null 2>&1 && echo ok || echo refused
}

check "the key the rule names is granted" [ "$(prepare r3_cache)" = ok ]
check "a key shown alike (r3!cache) is not" [ "$(prepare 'r3!cache')" = refused ]
check "nor one with a character outside the shown set (r3écache)" [ "$(prepare 'r3écache')" = refused ]
check "the 64-character key the rule names (61 a and ...) is granted" [ "$(prepare "${a61}...")" = ok ]
check "a longer key cut to the same 61 characters is not" [ "$(prepare "${a61}bbbbbbbbbb")" = refused ]
check "a key with the granted prefix is granted" [ "$(prepare pre-x)" = ok ]
check "so is a longer one (prefix rules still hold)" [ "$(prepare "pre-$(printf 'x%.0s' $(seq 100))")" = ok ]
out=$(as "$U" busctl call org.lamina.snapshot1 /org/lamina/snapshot1/overlayfs \
        org.lamina.snapshot1.Snapshotter List as 0 2>&1)
check "the refused keys were not made (${out:0:120})" \
        [ "$(grep -o '"[^"]*"' <<<"$out" | grep -c -e 'r3!cache' -e 'r3écache' -e bbbbbbbbbb)" = 0 ]

checks_done
echo "all checks passed"
