#!/usr/bin/env bash
# clang-format and clang-tidy over every day's library sources (the checks in .clang-tidy).
#   scripts/lint.sh            check
#   scripts/lint.sh --fix      let clang-format rewrite the files
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_packages clang-format clang-tidy cmake g++ ninja-build libasio-dev nlohmann-json3-dev libgtest-dev \
  libprotobuf-dev protobuf-compiler
cd "$ROOT"
files=$(find day*-* \( -name "*.cpp" -o -name "*.hpp" \) | sort)
if [ "${1:-}" = --fix ]; then
  clang-format -i $files
else
  clang-format --dry-run --Werror $files
fi
dir=$ROOT/build-tidy
# Configured every time: a build-tidy made before GEERPC_UNITY_BUILD existed would list unity files.
  cmake -S "$ROOT" -B "$dir" -G Ninja -DCMAKE_EXPORT_COMPILE_COMMANDS=ON -DCMAKE_DISABLE_PRECOMPILE_HEADERS=ON -DGEERPC_UNITY_BUILD=OFF >/dev/null
# Asio 1.22 does not detect clang 14's C++20 coroutines by itself.
for f in $(find day*-*/src -name "*.cpp" | sort); do
  clang-tidy -p "$dir" --quiet --extra-arg=-DASIO_HAS_CO_AWAIT=1 --extra-arg=-DASIO_HAS_STD_COROUTINE=1 "$f"
done
echo "lint: clean"
