#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bash completion: commands, options, snapshot keys (through laminactl ls --list-keys) and
# snapshotters, with bash-completion's two helpers stubbed.
. "$(dirname "$0")/ctl-lib.sh"
harness_setup

PATH="$(dirname "$LAMINACTL"):$PATH"
completion_load "$LAMINA_SOURCE_DIR/src/ctl/laminactl.bash-completion"

ok "prepare" prepare w
ok "commit" commit base w
ok "prepare child" prepare child base

expect "commands" "$(complete_line pre)" "prepare"
expect "all commands" "$(complete_line '' | wc -w)" 20
expect "help: a command" "$(complete_line help imp)" "import"
expect "options" "$(complete_line ls --no-)" "--no-legend --no-pager"
expect "keys" "$(complete_line info '')" "base child"
expect "keys after options" "$(complete_line --no-legend rm b)" "base"
expect "parents are committed" "$(complete_line prepare new '')" "base"
expect "commit takes an active key" "$(complete_line commit name '')" "child"
expect "snapshotters" "$(complete_line -s '')" "native overlayfs"
expect "json modes" "$(complete_line --json '')" "pretty short"
expect "apply: a file" "$(complete_line apply child '')" "FILES"
expect "import: a directory or an archive" "$(complete_line import '')" "FILES"
expect "run: images" "$(complete_line run '')" "base"
finish
