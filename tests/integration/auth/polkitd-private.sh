#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# polkitd with its own actions and rules: in a private mount namespace, binds
# $LAMINA_POLKIT_ACTIONS over /usr/share/polkit-1/actions and $LAMINA_POLKIT_RULES over
# /etc/polkit-1/rules.d, then execs polkitd (same PID) with the given arguments. polkitd
# 122 has no option for other directories; this way no system file is touched and tests
# running at the same time cannot remove each other's actions. Used as HARNESS_POLKITD.
: "${LAMINA_POLKIT_ACTIONS:?}" "${LAMINA_POLKIT_RULES:?}"
exec unshare --mount --propagation private -- sh -c '
        mount --bind "$LAMINA_POLKIT_ACTIONS" /usr/share/polkit-1/actions &&
        mount --bind "$LAMINA_POLKIT_RULES" /etc/polkit-1/rules.d &&
        exec /usr/lib/polkit-1/polkitd "$@"' polkitd "$@"
