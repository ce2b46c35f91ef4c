#!/usr/bin/env bash
# Lists repeated code in src/ that is worth a look: the rows of `duplicates --repo src --most 60` minus the pairs
# in which both sides are constant tables (enum members, const / static readonly declarations, code-point lists).
# Helpful, not gating: always exits 0.
#
# Usage: tools/check-house.sh [--all] [--most N] [--min-lines N] [--repo DIR]
#   --all        also print the constant-table pairs that are left out
#   --most N     rows asked from `duplicates` (default 60, at most 200)
#   --min-lines  shared lines that make a pair (default: duplicates' own, 6)
#   --repo DIR   tree to scan (default src)
#
# Heuristic: a side is a "constant table" when at least 80% of its code lines (blank lines, comments, braces,
# attributes, `namespace`/`using` lines and type headers such as `internal static class X` do not count) are enum members (`Name = value,` or `Name,`), const or
# static readonly field declarations, or lines of a collection/array literal of constants; it is a "plain
# declaration" block when 80% are those or auto-properties, field declarations, constructor headers and
# `Name = name;` assignments. A pair is left out when both sides are constant tables; pairs of declaration blocks
# (shape-alike data classes) are printed in a second list, since `duplicates` names only the longest run of a
# pair and the "+N more runs" may hold logic. issue 8 asks that `duplicates` on src/ list nothing but constant
# tables; every other row is a candidate for one shared piece of code.
set -uo pipefail
cd "$(dirname "$0")/.."

show_all=0
most=60
repo=src
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --all) show_all=1 ;;
    --most) most="$2"; shift ;;
    --min-lines) extra+=(--min-lines "$2"); shift ;;
    --repo) repo="$2"; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "check-house: unknown argument $1" >&2; exit 0 ;;
  esac
  shift
done

if ! command -v duplicates >/dev/null 2>&1; then
  echo "check-house: the 'duplicates' tool is not installed here; nothing checked" >&2
  exit 0
fi

out=$(duplicates --repo "$repo" --most "$most" --seconds 120 "${extra[@]+"${extra[@]}"}" 2>&1)
SHOW_ALL=$show_all REPO="$repo" python3 - "$out" <<'PY'
import os, re, sys

text = sys.argv[1]
repo = os.environ["REPO"]
show_all = os.environ["SHOW_ALL"] == "1"

row = re.compile(r"^(D\d+) (\S+):(\d+)-(\d+) ~ (\S+):(\d+)-(\d+)(.*)$")
ignorable = re.compile(r"^\s*($|//|/\*|\*|[{}\[\]();,]+\s*$|\[[A-Za-z][^\]]*\]\s*$|namespace\b|using\b|#)")
# A type header (`internal static class X`, `public sealed class X : Base`) is neither logic nor a constant: a type
# whose first lines are constants pairs with any other such type by shape (header + constants), so the header does not
# count against the constant-table test.
type_header = re.compile(r"^\s*((public|internal|private|protected|file|static|sealed|abstract|readonly|partial|ref)\s+)*(class|struct|record|interface)\s+\w+[^;=]*$")
constantish = [
    re.compile(r"^\s*((public|internal|private|protected|file)\s+)*(const|static\s+readonly)\b"),   # const / static readonly
    re.compile(r"^\s*((public|internal|private|protected|file)\s+)*(enum)\b"),                        # enum header
    re.compile(r"^\s*@?[A-Za-z_]\w*\s*(=\s*[^;{}]+)?,?\s*(//.*)?$"),                                 # enum member
    re.compile(r"^\s*([-+~]?\s*(0x[0-9A-Fa-f_]+|\d[\d_]*)[uUlL]*\s*,\s*)+([-+~]?\s*(0x[0-9A-Fa-f_]+|\d[\d_]*)[uUlL]*)?\s*,?\s*(//.*)?$"),  # number lists
    re.compile(r"^\s*(\(?\s*\"[^\"]*\"\s*,?\s*\)?\s*,?\s*)+(//.*)?$"),                                # string lists
    re.compile(r"^\s*\{?\s*[\w.]+\s*,\s*\"[^\"]*\"\s*\}?\s*,?\s*$"),                                  # { Code, "name" } entries
    re.compile(r"^\s*\[?\s*[\w.]+\s*\]?\s*=\s*[^;]+,\s*$"),                                          # [Key] = value, entries
]
# Plain declarations: auto-properties, field declarations and constructor assignments `Name = name;`.
declarationish = constantish + [
    re.compile(r"^\s*((public|internal|private|protected|file|static|required|readonly|override|virtual|new)\s+)+[\w<>\[\]?,. ]+\s+\w+\s*\{\s*get;\s*((private\s+|internal\s+)?(set|init);\s*)?\}(\s*=\s*[^;]+;)?\s*$"),
    re.compile(r"^\s*((public|internal|private|protected|file|static|readonly|volatile)\s+)+[\w<>\[\]?,. ]+\s+_?\w+\s*(=\s*[^;]+)?;\s*$"),
    re.compile(r"^\s*(this\.)?_?\w+\s*=\s*[\w.]+(\s*\?\?\s*[\w.()]+)?;\s*$"),
    re.compile(r"^\s*((public|internal|private|protected)\s+)+\w+\s*\([^)]*\)\s*$"),            # constructor header
]

def kind(path, start, end):
    """'table', 'decl' or None for one side of a pair."""
    full = os.path.join(repo, path)
    try:
        with open(full, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()[start - 1:end]
    except OSError:
        return None
    code = [l for l in lines if not ignorable.match(l) and not type_header.match(l)]
    if not code:
        return "table"
    if sum(1 for l in code if any(p.match(l) for p in constantish)) >= 0.8 * len(code):
        return "table"
    if sum(1 for l in code if any(p.match(l) for p in declarationish)) >= 0.8 * len(code):
        return "decl"
    return None

kept, tables, decls, other = [], [], [], []
for line in text.splitlines():
    m = row.match(line)
    if not m:
        if line and not line.startswith("(+"):
            other.append(line)
        elif line.startswith("(+"):
            other.append(line)
        continue
    a = kind(m[2], int(m[3]), int(m[4]))
    b = kind(m[5], int(m[6]), int(m[7]))
    if a == "table" and b == "table":
        tables.append(line)
    elif a and b:
        decls.append(line)
    else:
        kept.append(line)

print(f"check-house: {len(kept)} pairs with logic, {len(decls)} declaration-only pairs; {len(tables)} "
      f"constant-table pairs left out (duplicates --repo {repo}; helpful, not gating)")
for l in kept:
    print("  " + l)
if decls:
    print("declaration-only pairs (fields, auto-properties, constructor assignments; usually fine, check the +runs):")
    for l in decls:
        print("  " + l)
if show_all and tables:
    print("constant tables (left out):")
    for l in tables:
        print("  " + l)
for l in other:
    print("  " + l if l.startswith("(+") or l.startswith("left out") or l.startswith("incomplete") else "  # " + l)
PY
exit 0
