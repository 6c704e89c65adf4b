#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Builds a libFuzzer target with clang (-fsanitize=fuzzer,address,undefined) and runs it
# on a copy of its seed corpus for a bounded time. See fuzz/README.md.
#
#   run-fuzzer.sh TARGET SECONDS [LIBFUZZER-ARGS...]    TARGET: parser or writer
#
# LAMINA_SOURCE_DIR and LAMINA_BUILD_DIR (meson's build dir, for config.h) are set by meson
# test; the binary goes to $LAMINA_BUILD_DIR/fuzz/fuzz-TARGET. Exits 77 without clang's
# fuzzer runtime; a crash exits 1 (libFuzzer's own code, 77, would read as a skip).
set -eu

target=$1 seconds=$2
shift 2
src=${LAMINA_SOURCE_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
build=${LAMINA_BUILD_DIR:-$src/build}
out=$build/fuzz
mkdir -p "$out"

command -v clang >/dev/null || { echo "SKIP: clang is not installed (tools/install-deps.sh)"; exit 77; }
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }' >"$out/probe.c"
clang -fsanitize=fuzzer "$out/probe.c" -o "$out/probe" 2>/dev/null ||
        { echo "SKIP: clang has no libFuzzer runtime (libclang-rt-dev)"; exit 77; }

layer_sources=(layer-check.c layer-entry.c layer-staging.c layer-fs.c layer-name.c layer-paths.c layer-proto.c
               layer-reader.c layer-writer.c layer-writer-dirs.c)
shared_sources=(alloc-util.c dir-util.c error.c strutil.c tree-util.c tree-walk.c log.c inode-map.c)
sources=("$src/fuzz/fuzz-$target.c")
for f in "${layer_sources[@]}"; do sources+=("$src/src/layer/$f"); done
for f in "${shared_sources[@]}"; do sources+=("$src/src/shared/$f"); done

# shellcheck disable=SC2046
clang -g -O1 -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -fno-omit-frame-pointer \
      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
      -I"$build" -I"$src/src/shared" -I"$src/src/layer" "${sources[@]}" \
      $(pkg-config --cflags --libs libarchive libcrypto libisal) -o "$out/fuzz-$target"

# The seeds stay as they are: new inputs go to a scratch corpus, crashes to $out.
work=$(mktemp -d "${TMPDIR:-/tmp}/lamina-fuzz-$target.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "fuzz-$target: ${seconds}s from $(find "$src/fuzz/corpus/$target" -type f | wc -l) seeds"
"$out/fuzz-$target" -max_total_time="$seconds" -max_len=262144 -rss_limit_mb=2048 -timeout=30 -error_exitcode=1 \
        -print_final_stats=1 -artifact_prefix="$out/crash-$target-" "$@" "$work" "$src/fuzz/corpus/$target"
