#!/bin/bash
# End-to-end `sli2vol propagate` (default options) of two source trees, alternated in one window.
# usage: benchmarks/propagate_side_by_side.sh TREE_A TREE_B ROUNDS IMAGE ANNOTATION [IMAGE ANNOTATION ...]
# (a TREE is a checkout of this repository, e.g. `git worktree add /tmp/before <commit>`)
set -eu
a=$1 b=$2 rounds=$3; shift 3
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for round in $(seq "$rounds"); do
  for tree in "$a" "$b"; do
    cases=("$@")
    for ((i = 0; i < ${#cases[@]}; i += 2)); do
      start=$(date +%s.%N)
      PYTHONPATH="$tree/Sli2VolSegment" python -m sli2vol.cli propagate "${cases[i]}" "${cases[i+1]}" \
        -o "$out/out.nii.gz" --force --quiet > "$out/message" 2>&1
      end=$(date +%s.%N)
      printf "%s %s %s %.2f s wall (%s)\n" "$round" "$tree" "$(basename "${cases[i]}")" \
        "$(echo "$end - $start" | bc)" "$(cat "$out/message")"
    done
  done
done
