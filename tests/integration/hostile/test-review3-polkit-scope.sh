#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# What a polkit rule can tell about a call: it was asked with the snapshotter, the verb and
# the key, but not whose namespace the call acts on nor the name it gives. A rule granting
# "manage" for one user's snapshots granted them in every namespace, and a rule granting
# TagImage for keys "ci-*" let the new name be any name (moving an existing one, "prod",
# to another top). Now each check also carries "namespace" (the uid whose snapshots the call
# acts on) and "name" (Commit's name, TagImage's new name). Against the real laminad and
# real polkitd with its own rules file: the actor holds only what the rules grant.
set -u
. "${LAMINA_SOURCE_DIR:?run through meson test}/tests/integration/hostile/hostile-lib.sh"
hostile_setup --idle-timeout 120

U=$(harness_add_user r3actor)
V=$(harness_add_user r3granted)
W=$(harness_add_user r3other)
UV=$(id -u "$V")
UW=$(id -u "$W")
cat >"$LAMINA_POLKIT_RULES/50-review3-scope.rules" <<RULE
polkit.addRule(function(action, subject) {
        if (subject.user != "$U")
                return polkit.Result.NOT_HANDLED;
        var verb = action.lookup("verb"), name = action.lookup("name") || "";
        if (action.id == "org.lamina.snapshot1.manage-own" && (verb != "tag-image" || name.indexOf("ci-") == 0))
                return polkit.Result.YES;
        if (action.id == "org.lamina.snapshot1.manage" && action.lookup("namespace") == "$UV")
                return polkit.Result.YES;
});
RULE
polkit_private_start

OBJ=/org/lamina/snapshot1/overlayfs
call() { # USER PATH METHOD SIGNATURE ARGS...: ok or refused
        local u=$1 path=$2
        shift 2
        as "$u" busctl call --allow-interactive-authorization=no org.lamina.snapshot1 "$path" \
                org.lamina.snapshot1.Snapshotter "$@" >/dev/null 2>&1 && echo ok || echo refused
}
image() { # USER METHOD SIGNATURE ARGS...
        local u=$1
        shift
        as "$u" busctl call --allow-interactive-authorization=no org.lamina.snapshot1 "$OBJ" \
                org.lamina.snapshot1.Images "$@" >/dev/null 2>&1 && echo ok || echo refused
}

for ns in "$UV" "$UW"; do
        [ "$(call root "$OBJ/user/$ns" Prepare 'ssa{ss}' s "" 0)" = ok ] || harness_die "root cannot Prepare in $ns"
done
check "the actor may Stat in the namespace the rule names" [ "$(call "$U" "$OBJ/user/$UV" Stat s s)" = ok ]
check "but not in another one" [ "$(call "$U" "$OBJ/user/$UW" Stat s s)" = refused ]
check "nor Remove there" [ "$(call "$U" "$OBJ/user/$UW" Remove s s)" = refused ]
check "the other user's snapshot is still there" [ "$(call root "$OBJ/user/$UW" Stat s s)" = ok ]

[ "$(call "$U" "$OBJ" Prepare 'ssa{ss}' a "" 0)" = ok ] || harness_die "the actor cannot Prepare"
[ "$(call "$U" "$OBJ" Commit 'ssa{ss}' c a 0)" = ok ] || harness_die "the actor cannot Commit"
[ "$(image "$U" CreateImage sss ci-one c '')" = ok ] || harness_die "the actor cannot CreateImage"
check "TagImage to a name the rule grants (ci-two)" [ "$(image "$U" TagImage ss ci-one ci-two)" = ok ]
check "TagImage to another name (prod) is refused" [ "$(image "$U" TagImage ss ci-one prod)" = refused ]
check "prod was not made" [ "$(image "$U" GetImage s prod)" = refused ]

checks_done
echo "all checks passed"
