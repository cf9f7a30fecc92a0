#!/bin/sh
# non_utf8_args.sh EXPECT CPB: an argument with bytes that are not UTF-8 (a value, a
# path) is bad input, exit 2 naming the argument with the bytes escaped, never an
# internal error when the command line is written into the journal as JSON.
expect="$1"; cpb="$2"
bad=$(printf 'x\377\376')
set -e
"$expect" 2 "argument 3 'x\\\\xff\\\\xfe' is not valid UTF-8" "$cpb" run --seq "$bad"
"$expect" 2 "argument 5 '/tmp/x\\\\xff\\\\xfe.json' is not valid UTF-8" "$cpb" run --seq 64 \
  --out "/tmp/$bad.json"
"$expect" 2 "argument 2 'x\\\\xff\\\\xfe' is not valid UTF-8" "$cpb" report "$bad"
# An overlong encoding of '/' (0xc0 0xaf) is not UTF-8 either.
"$expect" 2 "argument 3 'a\\\\xc0\\\\xafb' is not valid UTF-8" "$cpb" mask --mask \
  "$(printf 'a\300\257b')" --seq 64
# A control character inside an argument is echoed as \x0a, so the message stays one line.
"$expect" 2 "unknown kernel 'a\\\\x0ab'" "$cpb" run --kernel "$(printf 'a\nb')" --dry-run
"$expect" 2 "not expected: .*--\\\\x0aimeout" "$cpb" run "$(printf -- '--\nimeout')" text
