#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# bash completion: commands, options, snapshot keys (through laminactl ls --list-keys) and
# snapshotters, with bash-completion's two helpers stubbed.
. "$(dirname "$0")/ctl-lib.sh"
harness_setup

PATH="$(dirname "$LAMINACTL"):$PATH"
completion_load "$LAMINA_SOURCE_DIR/src/ctl/laminactl.bash-completion"

mkdir -p "$T/l1"
echo one >"$T/l1/one"
make_layer "$T/l1" "$T/l1.tar"
chain=$(tar_digest "$T/l1.tar")
make_oci_layout "$T/img" "img:1" "" "$T/l1.tar"
ok "prepare" prepare w
ok "commit" commit base w
ok "prepare child" prepare child base

expect "commands" "$(complete_line pre)" "prepare"
expect "all commands" "$(complete_line '' | wc -w)" 27
expect "help: a command" "$(complete_line help imag)" "images"
expect "options" "$(complete_line ls --no-)" "--no-legend --no-pager --no-replace"
expect "keys" "$(complete_line info '')" "base child"
expect "keys after options" "$(complete_line --no-legend rm b)" "base"
expect "parents are committed" "$(complete_line prepare new '')" "base"
expect "commit takes an active key" "$(complete_line commit name '')" "child"
expect "snapshotters" "$(complete_line -s '')" "native overlayfs"
expect "json modes" "$(complete_line --json '')" "pretty short"
expect "apply: a file" "$(complete_line apply child '')" "FILES"
expect "import: a directory or an archive" "$(complete_line import '')" "FILES"
expect "run: images" "$(complete_line run '')" "base"
ok "an image" -q import "$T/img"
expect "run: image names and committed snapshots" "$(complete_line run '')" "base img:1 $chain"
expect "rmi: image names" "$(complete_line rmi '')" "img:1"
expect "tag: an image, then new names" "$(complete_line tag i)" "img:1"
expect "prepare: parents include images" "$(complete_line prepare new i)" "img:1"
finish
