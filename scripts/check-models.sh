#!/usr/bin/env bash
# scripts/check-models.sh - exhaustive model checking with spin (make check-models).
#
# Each models/*.pml must verify with 0 errors, and each of its seeded
# mutants (the "MUTANT=k" list in the model's header comment) must produce a
# counterexample, so that a check that cannot fail is caught too.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v spin >/dev/null; then
    echo "check-models: spin is missing (scripts/deps.sh models installs it)" >&2
    exit 1
fi
CC=${CC:-cc}
work=$(mktemp -d "${TMPDIR:-/tmp}/eddy-models.XXXXXX")
trap 'rm -rf "$work"' EXIT

passed=0 failed=0
verify() { # model mutant -> prints "errors: N"
    local model=$1 mutant=$2
    (cd "$work" && rm -f pan pan.* && spin -DMUTANT="$mutant" -a "$OLDPWD/$model" >/dev/null &&
        $CC -O2 -w -DSAFETY -DCOLLAPSE -o pan pan.c && ./pan -m200000 2>&1) | grep -E 'errors:|states, stored' || true
}

for model in models/*.pml; do
    mutants=$(grep -oE '^ \*   ?[0-9]+  ' "$model" | tr -dc '0-9\n' | sort -n | uniq)
    out=$(verify "$model" 0)
    errs=$(sed -nE 's/.*errors: ([0-9]+).*/\1/p' <<<"$out")
    states=$(sed -nE 's/^ *([0-9.e+]+) states, stored.*/\1/p' <<<"$out")
    if [ "$errs" = "0" ]; then
        echo "PASS  $model: 0 errors ($states states)"
        passed=$((passed + 1))
    else
        echo "FAIL  $model: expected 0 errors, got '${errs:-none}'"
        failed=$((failed + 1))
    fi
    for m in $mutants; do
        out=$(verify "$model" "$m")
        errs=$(sed -nE 's/.*errors: ([0-9]+).*/\1/p' <<<"$out")
        if [ -n "$errs" ] && [ "$errs" -gt 0 ]; then
            echo "PASS  $model mutant $m: counterexample found"
            passed=$((passed + 1))
        else
            echo "FAIL  $model mutant $m: no counterexample (the check cannot see this mistake)"
            failed=$((failed + 1))
        fi
    done
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
