#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Snapshot commands against laminad on a private bus: tables, JSON, ctr-style output,
# and the common failures' texts and exit codes.
. "$(dirname "$0")/ctl-lib.sh"
harness_setup

ok "snapshotters" snapshotters
printf '%s\n' "$out" | grep -Eq '^overlayfs +yes +/org/lamina/snapshot1/overlayfs$' || fail "overlayfs is listed as default: $out"
printf '%s\n' "$out" | grep -Eq '^native +no ' || fail "native is listed: $out"
printf '%s\n' "$out" | grep -Eq '^[0-9]+ snapshotters listed\.$' || fail "snapshotters footer: $out"
ok "snapshotters --json=short" --json=short snapshotters
expect "JSON snapshotters: the default" "$(json 'map(select(.default) | .name)')" '["overlayfs"]'

ok "ls on nothing" ls
expect "ls on nothing says so" "$out" "No snapshots."
ok "ls --json on nothing" --json=short ls
expect "empty JSON list" "$out" "[]"

ok "prepare" prepare base-work
expect "prepare prints nothing" "$out" ""
ok "commit" commit base base-work
ok "prepare on a parent" prepare child base
ok "view" view ro-view base

ok "ls" ls
expect "ls header" "$(printf '%s\n' "$out" | head -n 1 | tr -s ' ')" "KEY PARENT KIND OWNER"
printf '%s\n' "$out" | grep -Eq '^child +base +active +root$' || fail "ls row for child: $out"
printf '%s\n' "$out" | grep -Eq '^base +- +committed +root$' || fail "ls row for base: $out"
expect "ls footer" "$(printf '%s\n' "$out" | tail -n 1)" "3 snapshots listed."
ok "ls --no-legend" ls --no-legend
expect "no legend: rows only" "$(printf '%s\n' "$out" | wc -l)" 3

ok "ls --json=short" --json=short ls
expect "JSON ls is one line" "$(printf '%s\n' "$out" | wc -l)" 1
expect "JSON names" "$(json 'map(.name) | sort')" '["base","child","ro-view"]'
expect "JSON kinds" "$(json 'map({(.name): .kind}) | add')" '{"base":"committed","child":"active","ro-view":"view"}'
expect "JSON parents" "$(json 'map({(.name): .parent}) | add')" '{"base":null,"child":"base","ro-view":"base"}'
expect "JSON owner and timestamps" "$(json 'all(.[]; .owner == 0 and .created > 1e15 and .updated >= .created)')" "true"
ok "ls --json=pretty" --json=pretty ls
expect "JSON pretty parses" "$(json 'length')" 3
printf '%s\n' "$out" | grep -q '^    "name": ' || fail "pretty JSON is indented by 2 per level: $out"

ok "ls with a filter" --json=short ls 'kind==active'
expect "filter kind==active" "$(json 'map(.name)')" '["child"]'
ok "ls with two filters (OR)" --json=short ls 'kind==active' 'name==base'
expect "two filters" "$(json 'map(.name) | sort')" '["base","child"]'
fails "bad filter" 1 '' ls 'kind=='
fails "unknown filter field refused" 1 'unknown field' ls 'knd==committed'
ok "parent==\"\": snapshots without a parent (containerd's parent is always present)" --json=short ls 'parent==""'
expect "parent==\"\"" "$(json 'map(.name) | sort')" '["base"]'

ok "info" info child
expect "info is JSON" "$(json '.kind + " " + .parent')" "active base"
expect "info is pretty by default" "$(printf '%s\n' "$out" | head -n 2 | tail -n 1)" '  "name": "child",'
fails "info of a missing key" 1 '"nope"' info nope

ok "tree" tree
expect "tree output" "$out" " base
  \\_ child
  \\_ ro-view"
ok "tree --json" --json=short tree
expect "JSON tree" "$(json 'map([.name, (.children | map(.name))])')" '[["base",["child","ro-view"]]]'

ok "mounts" mounts child
printf '%s\n' "$out" | grep -Eq '^mount -t [a-z]+ [^ ]+ TARGET( -o [^ ]+)?$' || fail "mounts prints mount(8) lines: $out"
ok "mounts with a target" mounts child /mnt/x
printf '%s\n' "$out" | grep -q ' /mnt/x' || fail "mounts uses the target: $out"
ok "mounts --json" --json=short mounts child
expect "JSON mounts" "$(json 'all(.[]; (.type | type) == "string" and (.options | type) == "array") and length > 0')" "true"
fails "mounts of a committed snapshot" 1 '"base"' mounts base

ok "usage -b" usage -b child
printf '%s\n' "$out" | grep -Eq '^child +[0-9]+ +[0-9]+$' || fail "usage -b row: $out"
ok "usage of everything" usage
printf '%s\n' "$out" | grep -Eq '^base +[0-9.]+[BKMG] +[0-9]+$' || fail "usage human sizes: $out"
expect "usage footer" "$(printf '%s\n' "$out" | tail -n 1)" "3 snapshots listed."
ok "usage --json" --json=short usage base ro-view
expect "JSON usage" "$(json 'map([.name, (.size | type), .inodes >= 0])')" '[["base","number",true],["ro-view","number",true]]'

ok "label set" label child a=1 b c=x=y
expect "label prints k=v joined by ," "$out" "a=1,b=true,c=x=y"
ok "label delete" label child a=
expect "label after delete" "$out" "b=true,c=x=y"
ok "label show" label child
expect "label show" "$out" "b=true,c=x=y"
ok "label --json" --json=short label child
expect "JSON labels" "$(json '.')" '{"b":"true","c":"x=y"}'
ok "info shows labels" --json=short info child
expect "labels in info" "$(json '.labels')" '{"b":"true","c":"x=y"}'
fails "label of a missing key" 1 '"nope"' label nope a=b

# JSON escaping: quotes, backslashes and non-ASCII round-trip exactly.
weird='we "ir\d" é ✓'
ok "prepare with a strange key" prepare "$weird"
ok "label with a strange value" label "$weird" "k=$weird"
ok "label --json of strange text" --json=short label "$weird"
expect "strange label value round-trips" "$(json '.k')" "$weird"
ok "info --json=pretty of strange text" info "$weird"
expect "strange key and label round-trip in pretty JSON" "$(json '[.name, .labels.k]')" "$(jq -cn --arg k "$weird" '[$k, $k]')"
ok "ls --json with a strange key" --json=short ls "name==\"we \\\"ir\\\\d\\\" é ✓\""
expect "strange key round-trips" "$(json 'map(.name)')" "$(jq -cn --arg k "$weird" '[$k]')"
ok "mounts quote for the shell" mounts "$weird" "/mnt/a b"
printf '%s\n' "$out" | grep -q " '/mnt/a b'" || fail "mounts shell-quotes the target: $out"
ok "rm the strange key" rm "$weird"

fails "prepare: key exists" 1 'already exists' prepare child base
fails "prepare: parent missing" 1 '"nope"' prepare x nope
fails "prepare: parent not committed" 1 '"child"' prepare x child
fails "commit: name exists" 1 'already exists' commit base child
fails "commit: key missing" 1 '"nope"' commit new nope
fails "commit: a view" 1 '"ro-view"' commit new ro-view
fails "rm: has children" 1 'child' rm base
fails "rm: missing" 1 '"nope"' rm nope
fails "no such snapshotter" 1 'no snapshotter "nosuch"' -s nosuch ls

ok "--user 0 is root's namespace" --user 0 --json=short ls
expect "--user 0 ls" "$(json 'length')" 3

ok "rm several" rm child ro-view
ok "rm the parent after its children" rm base
ok "ls after rm" ls
expect "all removed" "$out" "No snapshots."

ok "native snapshotter" -s native prepare nat
ok "native ls" -s native --json=short ls
expect "native has its own snapshots" "$(json 'map(.name)')" '["nat"]'
ok "native rm" -s native rm nat

ok "cleanup" cleanup
printf '%s\n' "$out" | grep -Eq '^Reclaimed [0-9.]+[BKMGT]\.$' || fail "cleanup output: $out"
ok "cleanup --json" --json=short cleanup
expect "JSON cleanup" "$(json '.reclaimed | type')" "number"
ok "cleanup -q" -q cleanup
expect "cleanup -q is quiet" "$out" ""
finish
