#!/usr/bin/env bash
# Regenerates PublicAPI.Unshipped.txt of every library in src/ from the compiler's view of its public surface,
# then builds again with the public-API rules as errors to prove the files are complete and exact.
#
# Usage: tools/update-public-api.sh [--check] [project-or-solution]
#   (default target: OspBridge.sln)
#   --check   do not rewrite anything; only build with the rules as errors (what CI / the integrator runs)
#
# How: PublicApiAnalyzers reports RS0016 "Symbol '<api line>' is not part of the declared public API" for every
# public symbol missing from PublicAPI.Shipped.txt + PublicAPI.Unshipped.txt, and RS0017 for every listed symbol
# that is gone. The script empties each Unshipped file (keeping '#nullable enable'), builds once with those rules
# as plain warnings (-p:TreatWarningsAsErrors=false), collects the RS0016 symbol texts per project, and writes
# them sorted (ordinal) below '#nullable enable'. Shipped files are never touched: moving lines from Unshipped to
# Shipped is a release decision (see docs/testing.md, "Changing public API").
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

check_only=false
target=OspBridge.sln
for a in "$@"; do
  case "$a" in
    --check) check_only=true ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) target="$a" ;;
  esac
done

log() { printf '[update-public-api] %s\n' "$*" >&2; }

# Every library of src/ tracks its public API (Directory.Build.targets adds the analyzer to each): a project that
# is not an Exe and not a Roslyn component. A new library gets its two files here.
libs=()
while IFS= read -r proj; do
  grep -qE '<OutputType>(Win)?Exe</OutputType>|<IsRoslynComponent>true</IsRoslynComponent>' "$proj" && continue
  libs+=("$(dirname "$proj")")
done < <(find src -name '*.csproj' -not -path '*/obj/*' -not -path '*/bin/*' | sort)
[ ${#libs[@]} -gt 0 ] || { log "no library project under src/"; exit 1; }
for d in "${libs[@]}"; do
  [ -f "$d/PublicAPI.Shipped.txt" ] || { printf '#nullable enable\n' > "$d/PublicAPI.Shipped.txt"; log "created $d/PublicAPI.Shipped.txt"; }
  [ -f "$d/PublicAPI.Unshipped.txt" ] || { printf '#nullable enable\n' > "$d/PublicAPI.Unshipped.txt"; log "created $d/PublicAPI.Unshipped.txt"; }
done

if ! $check_only; then
  # Keep a copy: a library the target does not build (e.g. a dependent of a single-project target) gets its
  # list back unchanged instead of an empty one.
  backup=$(mktemp -d)
  for d in "${libs[@]}"; do
    mkdir -p "$backup/$d" && cp "$d/PublicAPI.Unshipped.txt" "$backup/$d/"
    printf '#nullable enable\n' > "$d/PublicAPI.Unshipped.txt"
  done

  log "pass 1: build with public-API rules as warnings ($target)"
  mkdir -p .test-logs
  out=.test-logs/public-api-scan.log   # kept for inspection (every warning of the scan build is in it)
  # --no-incremental: a project whose inputs did not change would not re-run its analyzers (no diagnostics).
  # Pass 1 must compile the libraries even if something else in the tree fails, so its exit code is not fatal.
  dotnet build "$target" -c Debug -nologo -v:minimal -clp:NoSummary --no-incremental \
      -p:TreatWarningsAsErrors=false -p:WarningsAsErrors= -p:OspPublicApiScan=true >"$out" 2>&1 || true

  python3 - "$out" "$ROOT" "$backup" "${libs[@]}" <<'PY'
import os, re, shutil, sys
log_path, root, backup, libs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
# <file>(l,c): warning RS0016: Symbol '<api>' is not part of the declared public API (<help>) [<project>]
pat = re.compile(r"^(?P<file>.+?)\(\d+,\d+(?:,\d+,\d+)?\): (?:warning|error) RS0016: Symbol '(?P<api>.+)' is not part of the declared public API.*\[(?P<proj>[^\]]+\.csproj)\]\s*$")
found = {os.path.join(root, d): set() for d in libs}
errors = []
for line in open(log_path, encoding="utf-8", errors="replace"):
    line = line.rstrip("\n")
    m = pat.match(line)
    if m:
        d = os.path.dirname(m["proj"])
        if d in found:
            found[d].add(m["api"])
        continue
    if re.search(r": error [A-Z]+\d+:", line):
        errors.append(line)
log_text = open(log_path, encoding="utf-8", errors="replace").read()
for d, apis in found.items():
    rel = os.path.relpath(d, root)
    if (os.path.join(d, "bin") + os.sep) not in log_text and (os.path.join(d, "obj") + os.sep) not in log_text:
        # Not compiled by this target: restore its list untouched.
        shutil.copy(os.path.join(backup, rel, "PublicAPI.Unshipped.txt"), os.path.join(d, "PublicAPI.Unshipped.txt"))
        print(f"[update-public-api] {rel}: not built by this target, list kept", file=sys.stderr)
        continue
    lines = sorted(apis, key=lambda s: s.encode("utf-8"))  # ordinal, like the analyzer's code fix
    with open(os.path.join(d, "PublicAPI.Unshipped.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("#nullable enable\n")
        for a in lines:
            f.write(a + "\n")
    print(f"[update-public-api] {os.path.relpath(d, root)}: {len(lines)} public symbols", file=sys.stderr)
if errors:
    print("[update-public-api] the build also failed for other reasons (fix these first; the lists may be incomplete):", file=sys.stderr)
    for e in sorted(set(errors))[:40]:
        print("  " + e, file=sys.stderr)
PY
  rm -rf "$backup"
fi

log "pass 2: build with public-API rules as errors ($target)"
if ! dotnet build "$target" -c Debug -nologo -clp:ErrorsOnly; then
  log "FAILED: see the errors above (RS0016/RS0017 mean the lists and the code disagree)"
  exit 1
fi
log "public API lists are exact"
