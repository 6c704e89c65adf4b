#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# laminad with the bus-hold shim preloaded (bus-hold.c), holding its answer to a CreateImage
# while $LAMINA_TEST_DIR/hold-answer exists: a test names this as LAMINA_LAMINAD, and
# dbus-daemon runs it with the test's environment.
export LD_PRELOAD="$LAMINA_BUILD_DIR/tests/integration/ctl/bus-hold.so"
export LAMINA_HOLD_ANSWER="$LAMINA_TEST_DIR/hold-answer"
exec "$LAMINA_BUILD_DIR/src/laminad/laminad" "$@"
