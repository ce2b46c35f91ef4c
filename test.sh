#!/usr/bin/env bash
# OspBridge: install missing prerequisites (when root), build, run every test tier.
# Usage: ./test.sh [tier ...]   tiers: Net Crypto Quic WebRtc Media Osp PeerFetch Bridge Interop (default: all)
# Last line: "N passed, N failed, N skipped" summed over all test runs. Exit code non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
LOGDIR="$ROOT/.test-logs"
mkdir -p "$LOGDIR"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

log() { printf '[test.sh] %s\n' "$*" >&2; }

# ---- 1. prerequisites --------------------------------------------------------------------------
# command -> Debian package
declare -A NEED=(
  [/usr/bin/chromium]=chromium
  [/usr/bin/gtlsclient]=ngtcp2-client
  [/usr/bin/gtlsserver]=ngtcp2-server
  [/usr/bin/avahi-browse]=avahi-utils
  [/usr/sbin/avahi-daemon]=avahi-daemon
  [/usr/sbin/ip]=iproute2
  [/usr/bin/node]=nodejs
  [/usr/bin/dbus-daemon]=dbus
  [/usr/bin/openssl]=openssl
  [/usr/bin/npm]=npm
  [/usr/bin/ffmpeg]=ffmpeg
  [/usr/bin/ffprobe]=ffmpeg
  [/usr/bin/gst-launch-1.0]=gstreamer1.0-tools
  [/usr/lib/x86_64-linux-gnu/girepository-1.0/GstRtspServer-1.0.typelib]=gir1.2-gst-rtsp-server-1.0
  [/usr/lib/python3/dist-packages/gi/__init__.py]=python3-gi
  [/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstx264.so]=gstreamer1.0-plugins-ugly
  [/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstrtp.so]=gstreamer1.0-plugins-good
  [/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstmulaw.so]=gstreamer1.0-plugins-good
  [/usr/lib/x86_64-linux-gnu/gstreamer-1.0/libgstvideotestsrc.so]=gstreamer1.0-plugins-base
  [/usr/bin/python3]=python3
)
missing=()
for f in "${!NEED[@]}"; do
  [ -x "$f" ] || [ -f "$f" ] || command -v "$(basename "$f")" >/dev/null 2>&1 || missing+=("${NEED[$f]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing Debian packages: ${missing[*]}"
    for attempt in 1 2 3 4; do
      if DEBIAN_FRONTEND=noninteractive apt-get update -q >"$LOGDIR/apt.log" 2>&1 &&
         DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$LOGDIR/apt.log" 2>&1; then
        break
      fi
      log "apt attempt $attempt failed (see $LOGDIR/apt.log); retrying"
      sleep $((attempt * 5))
    done
  else
    log "missing packages (${missing[*]}) and not root: the interop tests that need them will fail and say why"
  fi
fi
if [ -f interop/package-lock.json ] && command -v npm >/dev/null; then
  if [ ! -d interop/node_modules ] || [ interop/package-lock.json -nt interop/node_modules/.package-lock.json ]; then
    log "installing npm packages of interop/ from the lockfile"
    for attempt in 1 2 3; do
      (cd interop && npm ci --no-audit --no-fund >"$LOGDIR/npm.log" 2>&1) && break
      log "npm ci attempt $attempt failed (see $LOGDIR/npm.log)"; sleep $((attempt * 5))
    done
  fi
fi

# ---- 2. build ----------------------------------------------------------------------------------
log "building"
if ! dotnet build OspBridge.sln -c Release -nologo -clp:ErrorsOnly >"$LOGDIR/build.log" 2>&1; then
  cat "$LOGDIR/build.log" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

# ---- 3. test tiers -----------------------------------------------------------------------------
tiers=("$@")
[ ${#tiers[@]} -gt 0 ] || tiers=(Net Crypto Quic WebRtc Media Osp PeerFetch Bridge Interop)
passed=0 failed=0 skipped=0 notes=()
for t in "${tiers[@]}"; do
  proj="tests/OspBridge.$t.Tests/OspBridge.$t.Tests.csproj"
  [ -f "$proj" ] || { log "no such tier: $t"; failed=$((failed + 1)); continue; }
  log "tier $t"
  line=""
  out="$LOGDIR/$t.log"
  trx="$LOGDIR/$t.trx"
  rm -f "$trx"
  timeout 1800 dotnet test "$proj" -c Release --no-build --nologo --blame-hang-timeout 10m \
      --results-directory "$LOGDIR" --logger "trx;LogFileName=$t.trx" --logger "console;verbosity=minimal" >"$out" 2>&1
  rc=$?
  # The TRX file's <Counters total=".." passed=".." failed=".." notExecuted=".." .../> is the source of truth.
  counters=$(grep -o '<Counters [^>]*>' "$trx" 2>/dev/null | head -n 1)
  if [ -n "$counters" ]; then
    get() { sed -nE "s/.* $1=\"([0-9]+)\".*/\1/p" <<<"$counters"; }
    p=$(get passed); f=$(( $(get failed) + $(get error) + $(get timeout) + $(get aborted) )); s=$(get notExecuted)
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    if [ "$f" = 0 ] && [ "$rc" != 0 ]; then failed=$((failed + 1)); notes+=("$t: test run exited $rc (see $out)"); fi
    # each failed test with the first lines of its message (CI shows only this output: say why, not just which)
    awk '/^[[:space:]]+Failed /{n=40} /Stack Trace:/{n=0} n>0{print; n--}' "$out" | cut -c1-400 | sed "s/^/  [$t] /" >&2
    line="$p passed, $f failed, $s skipped"
  elif grep -q 'No test is available' "$out"; then
    line="no tests yet"
  else
    failed=$((failed + 1)); notes+=("$t: test host produced no results (exit $rc, see $out)")
    tail -n 30 "$out" >&2
    line="no results"
  fi
  log "tier $t: $line"
done
for n in "${notes[@]+"${notes[@]}"}"; do log "$n"; done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
