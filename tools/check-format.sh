#!/bin/sh
# check-format.sh: every C and C++ file git tracks is laid out as .clang-format says.
#
#   tools/check-format.sh        list the files that differ and show how (exit 1 if any)
#   tools/check-format.sh -i     rewrite them in place
#
# Uses clang-format-14 (Debian 12's; other versions lay some constructs out differently).
set -eu
cd "$(dirname "$0")/.."
fmt=${CLANG_FORMAT:-clang-format-14}
if ! command -v "$fmt" >/dev/null 2>&1; then
    echo "check-format: $fmt is not installed (apt-get install clang-format-14)" >&2
    exit 77
fi
files=$(git ls-files '*.c' '*.h' '*.cpp' '*.hpp')
if [ "${1:-}" = "-i" ]; then
    # shellcheck disable=SC2086
    "$fmt" -i $files
    exit 0
fi
bad=0
for f in $files; do
    if ! "$fmt" --dry-run -Werror "$f" >/dev/null 2>&1; then
        echo "check-format: $f differs from .clang-format:" >&2
        "$fmt" "$f" | diff -u "$f" - | head -20 >&2 || true
        bad=1
    fi
done
[ "$bad" -eq 0 ] && echo "check-format: $(echo "$files" | wc -l) files laid out as .clang-format says"
exit "$bad"
