# SPDX-License-Identifier: LGPL-2.1-or-later
# Real polkitd with private copies of its actions and rules directories
# (tests/integration/auth/polkitd-private.sh binds them over the system's), for shell tests
# that write their own rules; source after harness.sh:
#   polkit_private_setup [harness_setup OPTIONS]
#                          skips unless polkitd is installed, then harness_setup and
#                          polkit_private_dirs
#   polkit_auth_call_setup [harness_setup OPTIONS]
#                          for tests calling as users through auth-call: CALL (the built
#                          auth-call; harness_die unless built) and OBJ (the overlayfs
#                          snapshotter's object), then polkit_private_setup
#   polkit_private_dirs    LAMINA_POLKIT_ACTIONS (our .policy in it) and LAMINA_POLKIT_RULES,
#                          empty, below $T: write the rules files into the latter
#   polkit_private_start   polkitd on the private bus with them
#   polkit_private_grant ACTION[,ACTION...] USER...
#                          a rules file granting each USER each org.lamina.snapshot1.ACTION
#                          (manage-own, mount-own), then polkit_private_start
#   polkit_private_grant_targets USER PREFIX...
#                          a rules file granting USER manage-own and mount-own, and
#                          mount-anywhere for the targets (the polkit detail "target") that
#                          begin with a PREFIX, as an admin's rule for a tree would; then
#                          polkit_private_start
#   as USER COMMAND...     COMMAND as USER (root: as is) with its groups, on the private bus

polkit_private_setup() {
        [ -x /usr/lib/polkit-1/polkitd ] || harness_skip "polkitd is not installed"
        harness_setup "$@"
        polkit_private_dirs
}

polkit_auth_call_setup() {
        CALL="$LAMINA_BUILD_DIR/tests/integration/auth/auth-call"
        OBJ=/org/lamina/snapshot1/overlayfs
        [ -x "$CALL" ] || harness_die "$CALL is not built"
        polkit_private_setup "$@"
}

polkit_private_dirs() {
        export LAMINA_POLKIT_ACTIONS="$T/polkit/actions" LAMINA_POLKIT_RULES="$T/polkit/rules.d"
        mkdir -p "$LAMINA_POLKIT_ACTIONS" "$LAMINA_POLKIT_RULES"
        chmod 0755 "$T/polkit" "$LAMINA_POLKIT_ACTIONS" "$LAMINA_POLKIT_RULES"
        cp "$LAMINA_SOURCE_DIR/polkit/org.lamina.snapshot1.policy" "$LAMINA_POLKIT_ACTIONS/"
}

polkit_private_start() {
        chmod 0644 "$LAMINA_POLKIT_RULES"/* "$LAMINA_POLKIT_ACTIONS"/*
        HARNESS_POLKITD="$LAMINA_SOURCE_DIR/tests/integration/auth/polkitd-private.sh"
        harness_start_polkitd
}

# polkit_js_strings STRING...: the strings as the elements of a JavaScript array ("a", "b").
polkit_js_strings() {
        local s="" a
        for a; do
                s+="${s:+, }\"$a\""
        done
        printf '%s' "$s"
}

polkit_private_grant() {
        local -a a=(${1//,/ })
        local actions users
        actions=$(polkit_js_strings "${a[@]/#/org.lamina.snapshot1.}")
        shift
        users=$(polkit_js_strings "$@")
        cat >"$LAMINA_POLKIT_RULES/50-lamina-grant.rules" <<RULE
polkit.addRule(function(action, subject) {
        if ([$users].indexOf(subject.user) >= 0 && [$actions].indexOf(action.id) >= 0)
                return polkit.Result.YES;
});
RULE
        polkit_private_start
}

polkit_private_grant_targets() {
        local u=$1 prefixes
        shift
        prefixes=$(polkit_js_strings "$@")
        cat >"$LAMINA_POLKIT_RULES/50-lamina-grant-targets.rules" <<RULE
polkit.addRule(function(action, subject) {
        if (subject.user != "$u")
                return polkit.Result.NOT_HANDLED;
        if (action.id == "org.lamina.snapshot1.manage-own" || action.id == "org.lamina.snapshot1.mount-own")
                return polkit.Result.YES;
        if (action.id == "org.lamina.snapshot1.mount-anywhere") {
                var t = action.lookup("target");
                if ([$prefixes].some(function(p) { return t.indexOf(p) == 0; }))
                        return polkit.Result.YES;
        }
});
RULE
        polkit_private_start
}

as() {
        local u=$1
        shift
        if [ "$u" = root ]; then
                "$@"
        else
                setpriv --reuid="$(id -u "$u")" --regid="$(id -g "$u")" --init-groups -- \
                        env DBUS_SYSTEM_BUS_ADDRESS="$DBUS_SYSTEM_BUS_ADDRESS" "$@"
        fi
}
