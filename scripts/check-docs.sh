#!/usr/bin/env bash
# Fails when a tracked Markdown file would not render as written: a first line
# that is not a "# " title, a heading marker glued to its text ("#Title", what
# a C++ formatter makes of a Markdown file), a line over 200 characters outside
# a code block (unreadable in a terminal and in review), or an unclosed ``` block.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0
while IFS= read -r f; do
  awk -v file="$f" '
    NR == 1 && $0 !~ /^# [^ ]/ { printf "%s:1: the first line must be a \"# Title\"\n", file; bad = 1 }
    /^```/ { fence = !fence; next }
    fence { next }
    /^#+[^# ]/ { printf "%s:%d: heading without a space after its #: %s\n", file, NR, substr($0, 1, 60); bad = 1 }
    length($0) > 200 { printf "%s:%d: line of %d characters (at most 200)\n", file, NR, length($0); bad = 1 }
    END {
      if (fence) { printf "%s: a ``` code block is never closed\n", file; bad = 1 }
      exit bad
    }' "$f" || status=1
done < <(git ls-files '*.md')
if [ "$status" -ne 0 ]; then
  echo "docs check: fix the lines above" >&2
  exit 1
fi
echo "docs check: every Markdown file renders"
