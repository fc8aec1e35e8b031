#!/usr/bin/env bash
# Fails when a C++ file of src/, tests/ or bench/ is not as clang-format
# (.clang-format, STYLE.md §2) would write it; names each file. Run by ctest
# (label unit), so by CI. Fix with:
#   git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'tests/*.h' 'bench/*.cc' 'bench/*.h' | xargs clang-format -i
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
command -v clang-format >/dev/null || { echo "check_format: clang-format is not installed (apt-get install clang-format)" >&2; exit 1; }
bad=()
while IFS= read -r f; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done < <(git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'tests/*.h' 'bench/*.cc' 'bench/*.h')
if ((${#bad[@]})); then
  printf 'check_format: not clang-formatted: %s\n' "${bad[@]}" >&2
  exit 1
fi
