#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The rebase API over the bus (org.lamina.snapshot1(5)): PrepareWithOptions(rebase) and
# CommitWithOptions(parent), their error names, a layer applied to a rebase
# snapshot and attached to its parent, and native refusing it (NotSupported).
. "$(dirname "$0")/ctl-lib.sh"
harness_setup

. "$HARNESS_LIB/gdbus-call.sh"
N=/org/lamina/snapshot1/native
O=/org/lamina/snapshot1/overlayfs
OBJ=$O

mkdir -p "$T/base/srv" "$T/top/srv"
chmod 0750 "$T/base/srv"
echo base >"$T/base/srv/a"
echo top >"$T/top/srv/b"
make_layer "$T/base" "$T/base.tar"
tar -C "$T/top" --numeric-owner -cf "$T/top.tar" srv/b # no srv/ entry: it comes from the parent

ok "base layer" prepare b
ok "apply base" apply b "$T/base.tar"
ok "commit base" commit base b

want InvalidArgument "rebase with a parent" root PrepareWithOptions r base "{}" "{'rebase': <true>}"
want InvalidArgument "unknown Prepare option" root PrepareWithOptions r "" "{}" "{'rebased': <true>}"
want InvalidArgument "rebase not a boolean" root PrepareWithOptions r "" "{}" "{'rebase': <'yes'>}"
OBJ=$N want NotSupported "native cannot rebase" root PrepareWithOptions r "" "{}" "{'rebase': <true>}"
want ok "PrepareWithOptions rebase" root PrepareWithOptions r "" "{}" "{'rebase': <true>}"
ok "info r" --json=short info r
expect "a parentless active snapshot" "$(json "[.kind, .parent]")" "[\"active\",null]"
ok "apply the upper layer without its parent" apply r "$T/top.tar"

ok "a plain active snapshot" prepare plain
want FailedPrecondition "a parent for a snapshot not prepared with rebase" root CommitWithOptions c plain "{}" "{'parent': <'base'>}"
want NotFound "a missing parent" root CommitWithOptions c r "{}" "{'parent': <'nosuch'>}"
want InvalidArgument "an active parent" root CommitWithOptions c r "{}" "{'parent': <'plain'>}"
want InvalidArgument "unknown Commit option" root CommitWithOptions c r "{}" "{'parents': <'base'>}"
want AlreadyExists "name taken" root CommitWithOptions base r "{}" "{'parent': <'base'>}"
want ok "CommitWithOptions onto base" root CommitWithOptions top r "{'k': 'v'}" "{'parent': <'base'>}"
ok "info top" --json=short info top
expect "committed on base, with exactly the labels given" "$(json '[.kind, .parent, .labels.k]')" '["committed","base","v"]'
ok "view of top" view --mount v top
expect "both layers" "$(cat "$out/srv/a" "$out/srv/b")" "base
top"
expect "srv has the base layer's mode" "$(stat -c %a "$out/srv")" 750
ok "umount v" umount v
ok "rm v" rm v
want FailedPrecondition "the parent has a child" root Remove base
ok "rm" rm top plain base
finish
