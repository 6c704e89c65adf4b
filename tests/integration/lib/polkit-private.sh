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

polkit_private_grant() {
        local actions="" users="" a u
        for a in ${1//,/ }; do
                actions+="${actions:+, }\"org.lamina.snapshot1.$a\""
        done
        shift
        for u; do
                users+="${users:+, }\"$u\""
        done
        cat >"$LAMINA_POLKIT_RULES/50-lamina-grant.rules" <<RULE
polkit.addRule(function(action, subject) {
        if ([$users].indexOf(subject.user) >= 0 && [$actions].indexOf(action.id) >= 0)
                return polkit.Result.YES;
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
