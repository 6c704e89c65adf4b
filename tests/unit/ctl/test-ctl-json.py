#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# laminactl's JSON output (src/ctl/ctl-output.c, json-c) for keys and labels with quotes,
# backslashes, control characters, non-ASCII UTF-8 and bytes that are not UTF-8: the output is
# strict UTF-8 and strict JSON in both --json modes; every valid string round-trips exactly;
# each stray byte becomes U+FFFD; the array streamed one element at a time is byte for byte what
# json-c prints for the whole array; characters a terminal shows as nothing or that reorder the
# text (bidi controls, zero-width, BOM, tags), C1 controls and DEL are written as \uXXXX, never
# as is. Usage: test-ctl-json.py PATH-TO-ctl-json-print
import json
import subprocess
import sys

PRINT = sys.argv[1]

STRINGS = [
    b'plain',
    b'',
    b'we "ir\\d" \\\\ \\" \\u0041',
    b'a/b </script>',
    b'\x01\x02\x1f\t\n\r\x08\x0c\x7f',
    b'\xc2\x85 \xc2\x9f',                         # C1 controls: valid UTF-8
    'é ✓ 日本 😀 \u2028\u2029 \ufeff'.encode(),
    'bidi \u202e\u2066 zero-width \u200b\u00ad tag \U000e0041'.encode(),
    b'a\xffb',                                    # stray byte
    b'\xc3(',                                     # lead byte without its continuation
    b'\xc0\xaf',                                  # overlong "/"
    b'\xed\xa0\x80',                              # surrogate
    b'\xf4\x90\x80\x80',                          # beyond U+10FFFF
    b'cut \xe2\x9c',                              # cut short at the end
    b'\x80\xbf',                                  # continuation bytes alone
]

failures = 0


def check(what, cond, detail=''):
    global failures
    if cond:
        print(f'ok - {what}')
    else:
        failures += 1
        print(f'FAIL: {what} {detail}', file=sys.stderr)


def expected(b):
    """Each UTF-8 character kept, each byte that starts none replaced by U+FFFD."""
    out, i = [], 0
    while i < len(b):
        for n in (1, 2, 3, 4):
            try:
                out.append(b[i:i + n].decode('utf-8'))
                i += n
                break
            except UnicodeDecodeError:
                pass
        else:
            out.append('\ufffd')
            i += 1
    return ''.join(out)


def run(mode, how, strings):
    return subprocess.run([PRINT, mode, how, *strings], check=True, stdout=subprocess.PIPE).stdout


for mode in ('short', 'pretty'):
    streamed = run(mode, 'stream', STRINGS)
    tree = run(mode, 'tree', STRINGS)
    check(f'{mode}: streamed array is what json-c prints for the whole array', streamed == tree,
          f'\n{streamed!r}\n{tree!r}')
    try:
        text = streamed.decode('utf-8')  # strict: no stray bytes, no encoded surrogates
        doc = json.loads(text)           # strict: no raw control characters in strings
    except ValueError as e:
        check(f'{mode}: output is UTF-8 JSON', False, str(e))
        continue
    check(f'{mode}: output is UTF-8 JSON', True)
    check(f'{mode}: one element per string', len(doc) == len(STRINGS))
    for b, item in zip(STRINGS, doc):
        want = expected(b)
        check(f'{mode}: {b!r} round-trips as {want!r}',
              item == {'name': want, 'parent': None, 'labels': {want: want}, 'owner': 2**64 - 1,
                       'default': True, 'options': [want, want]}, repr(item))
    check(f'{mode}: "/" is not escaped', b'"a/b </script>"' in streamed)
    invisible = ['\x7f', '\x85', '\x9f', '\u2028', '\ufeff', '\u202e', '\u2066', '\u200b', '\xad', '\U000e0041']
    check(f'{mode}: no invisible character as is', not any(c in text for c in invisible), text)
    check(f'{mode}: a tag character as a surrogate pair', '\\udb40\\udc41' in text)
    if mode == 'short':
        check('short: one line', streamed.count(b'\n') == 1 and streamed.endswith(b'\n'))
    else:
        check('pretty: elements indented by 2, their fields by 4',
              b'\n  {\n    "name": "plain",\n' in streamed)
    empty = run(mode, 'stream', [])
    check(f'{mode}: empty array', empty == run(mode, 'tree', []) and json.loads(empty) == [], repr(empty))

check('valid strings stay as they are',
      all(expected(b) == b.decode('utf-8') for b in STRINGS[:8]))
sys.exit(1 if failures else 0)
