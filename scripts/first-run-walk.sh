#!/usr/bin/env bash
# The first-run walk (issue 19): clones this repository (its committed HEAD) into a temporary directory and follows
# the README as a new user would, with JAVA_HOME unset (on these machines the default `java` is 17). Prints one
# PASS/FAIL/PENDING line per check and exits 1 if any check failed.
#
#   scripts/first-run-walk.sh [--keep] [--skip-verify]
#     --keep         keep the temporary clone (its path is printed)
#     --skip-verify  skip `./mvnw verify` (the whole test suite: minutes on a busy machine)
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
keep=0 verify=1
for a in "$@"; do
  case "$a" in
    --keep) keep=1 ;;
    --skip-verify) verify=0 ;;
    *) echo "usage: scripts/first-run-walk.sh [--keep] [--skip-verify]" >&2; exit 2 ;;
  esac
done
work="$(mktemp -d)"
[ "$keep" = 1 ] || trap 'rm -rf "$work"' EXIT
failed=0
pass() { echo "PASS    $*"; }
fail() { echo "FAIL    $*"; failed=1; }
pending() { echo "PENDING $*"; }
# A file holds no carriage-return frames (progress bars redrawing themselves).
no_cr() { ! grep -q $'\r' "$1"; }

unset JAVA_HOME
echo "walk: default java: $(java -version 2>&1 | head -1); clone in $work/moeprune"
git clone -q "$repo" "$work/moeprune" || { fail "git clone $repo"; exit 1; }
cd "$work/moeprune" || exit 1
log="$work/logs"
mkdir -p "$log"

# 1. The README's two commands, as written.
if [ "$verify" = 1 ]; then
  if ./mvnw verify >"$log/verify.out" 2>&1; then
    pass "./mvnw verify ($(grep -E 'Tests run: [0-9]+, Failures' "$log/verify.out" | tail -1 | sed 's/^\[[A-Z]*\] //'))"
  else
    fail "./mvnw verify (see $log/verify.out)"
  fi
  # Warnings other than the per-class test counts (which surefire prints as [WARNING] when some were skipped).
  extra="$(grep -E '^(\[WARNING\]|WARNING:)' "$log/verify.out" | grep -v -E 'Tests run:|Using incubator modules' | wc -l)"
  [ "$extra" = 0 ] && pass "./mvnw verify prints no build warnings" || fail "./mvnw verify prints $extra warning lines"
  grep -q -E 'Tests run: 0, ' "$log/verify.out" && fail "a test class reports 0 tests" || pass "no test class reports 0 tests"
else
  pending "./mvnw verify (skipped by --skip-verify)"
fi
if ./mvnw -q package -DskipTests >"$log/package.out" 2>&1; then
  pass "./mvnw -q package -DskipTests"
else
  fail "./mvnw -q package -DskipTests (see $log/package.out)"; exit 1
fi
start=$(date +%s)
if ./moeprune quickstart >"$log/quickstart.out" 2>"$log/quickstart.err"; then
  pass "./moeprune quickstart ($(( $(date +%s) - start )) s)"
else
  fail "./moeprune quickstart (see $log/quickstart.err)"
fi
no_cr "$log/quickstart.err" && pass "quickstart stderr has no carriage-return frames" \
  || fail "quickstart stderr has carriage-return frames"
# The speed headline: "faster" only where the pruned model's slowest run beats the full model's fastest.
headline_ok=1
while IFS= read -r line; do
  case "$line" in *"x faster ("*)
    lo="$(sed -E 's/.*faster \([0-9.]+ \(([0-9]+)-[0-9]+\) vs .*/\1/' <<<"$line")"
    hi="$(sed -E 's/.* vs [0-9.]+ \([0-9]+-([0-9]+)\) tokens.*/\1/' <<<"$line")"
    [ "$lo" -gt "$hi" ] 2>/dev/null || headline_ok=0 ;;
  esac
done < <(grep -E '^[A-Za-z0-9._-]+: (no )?decode' "$log/quickstart.out")
grep -q -E '^[A-Za-z0-9._-]+: (no )?decode' "$log/quickstart.out" || headline_ok=0
[ "$headline_ok" = 1 ] && pass "quickstart speed headline claims a speed-up only beyond the spread of the runs" \
  || fail "quickstart speed headline (see $log/quickstart.out)"
grep -q -E '^report: .*report\.html' "$log/quickstart.out" && pass "quickstart prints where the report is" \
  || fail "quickstart does not print the report's location"

# 2. Every subcommand's --help, and --quiet / --json where they belong.
subcommands="$(./moeprune --help | sed -n '/^Commands:/,$p' | awk '/^  [a-z]/ {print $1}' | grep -v '^help$')"
long_running="calibrate perplexity eval generate report quickstart prune"
for c in $subcommands; do
  if ./moeprune "$c" --help >"$log/help-$c.out" 2>"$log/help-$c.err" && [ -s "$log/help-$c.out" ] \
      && [ ! -s "$log/help-$c.err" ]; then
    pass "moeprune $c --help"
  else
    fail "moeprune $c --help (see $log/help-$c.*)"
  fi
  if [[ " $long_running " == *" $c "* ]]; then
    grep -q -- '--quiet' "$log/help-$c.out" && pass "moeprune $c has --quiet" || fail "moeprune $c has no --quiet"
  fi
  if [ "$c" = patterns ]; then   # a group: its two subcommands take --json
    for sub in build match; do
      ./moeprune patterns "$sub" --help 2>/dev/null | grep -q -- '--json' && pass "moeprune patterns $sub has --json" \
        || fail "moeprune patterns $sub has no --json"
    done
  else
    grep -q -- '--json' "$log/help-$c.out" && pass "moeprune $c has --json" || fail "moeprune $c has no --json"
  fi
done

# 3. --quiet runs print nothing on stderr; results still come on stdout.
model=models/moe-tiny-7d
printf '%s\n' '{"text": "public final class Walk { static int twice(int x) { return 2 * x; } }"}' \
  '{"text": "The report is written to a temporary directory and renamed when complete."}' >"$work/docs.jsonl"
quiet_run() {
  local name="$1"; shift
  if ./moeprune "$@" --quiet >"$log/quiet-$name.out" 2>"$log/quiet-$name.err" && [ ! -s "$log/quiet-$name.err" ] \
      && [ -s "$log/quiet-$name.out" ]; then
    pass "moeprune $name --quiet: results on stdout, nothing on stderr"
  else
    fail "moeprune $name --quiet (see $log/quiet-$name.*)"
  fi
}
quiet_run perplexity perplexity "$model" --data "$work/docs.jsonl"
quiet_run eval eval "$model" --text "$work/docs.jsonl"
quiet_run generate generate "$model" --prompt "public static" --max-new-tokens 8
quiet_run calibrate calibrate "$model" --data "$work/docs.jsonl" --out "$work/walk.stats"

# 3b. --json: standard output is exactly one JSON object naming its format (README, "Machine-readable output");
#     --output FILE holds the same object. Checked with Python's json module where there is one.
one_object() {   # FILE FORMAT
  python3 -c 'import json, sys; o = json.load(open(sys.argv[1])); sys.exit(0 if isinstance(o, dict) and o.get("format") == sys.argv[2] and o.get("version") == 1 else 1)' "$1" "$2"
}
if command -v python3 >/dev/null 2>&1; then
  json_run() {   # NAME FORMAT ARGS...
    local name="$1" format="$2"; shift 2
    if ./moeprune "$@" --json >"$log/json-$name.out" 2>"$log/json-$name.err" && one_object "$log/json-$name.out" "$format"; then
      pass "moeprune $name --json: one $format object on stdout"
    else
      fail "moeprune $name --json (see $log/json-$name.*)"
    fi
  }
  json_run inspect moeprune-inspect inspect "$model"
  json_run perplexity moeprune-perplexity perplexity "$model" --data "$work/docs.jsonl" --quiet --output "$work/perplexity.json"
  json_run eval moeprune-eval eval "$model" --text "$work/docs.jsonl" --quiet
  json_run generate moeprune-generate generate "$model" --prompt "public static" --max-new-tokens 8 --quiet
  json_run calibrate moeprune-calibrate calibrate "$model" --data "$work/docs.jsonl" --out "$work/walk-json.stats" --quiet
  python3 -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1])) == json.load(open(sys.argv[2])) else 1)' \
      "$work/perplexity.json" "$log/json-perplexity.out" 2>/dev/null \
    && pass "perplexity --output FILE holds the --json object" || fail "perplexity --output FILE differs from --json"
  one_object quickstart-out/results.json moeprune-report 2>/dev/null \
    && pass "quickstart wrote results.json beside report.html" || fail "quickstart-out/results.json missing or not moeprune-report"
else
  pending "--json output checks (no python3 to parse JSON with)"
fi

# 4. prune through the launcher's start-up cache: the first run records it, the second uses it; neither run's
#    output holds a line of the JVM's about the cache.
mask="$(ls quickstart-out/masks/*.json 2>/dev/null | head -1)"
if [ -n "$mask" ]; then
  ok=1
  for run in 1 2; do
    ./moeprune prune "$model" --mask "$mask" --out "$work/pruned-$run" >"$log/prune-$run.out" 2>"$log/prune-$run.err" || ok=0
    grep -q -i -E 'aot|cds|AOTConfiguration' "$log/prune-$run.out" "$log/prune-$run.err" && ok=0
    no_cr "$log/prune-$run.err" || ok=0
  done
  ls target/aot/prune-*.aot >/dev/null 2>&1 || ok=0
  [ "$ok" = 1 ] && pass "prune twice (start-up cache made, then used): no cache messages, no carriage returns" \
    || fail "prune with the start-up cache (see $log/prune-*)"
else
  fail "no quickstart mask to prune with"
fi

[ "$keep" = 1 ] && echo "walk: kept $work"
[ "$failed" = 0 ] && echo "walk: all checks passed (PENDING: not done yet, not failed)" || echo "walk: some checks FAILED"
exit "$failed"
