using System.Collections.Concurrent;
using OspBridge.Osp.Discovery;
using System.Globalization;
using System.Text;
using System.Text.Json;
using OspBridge.Crypto;
using OspBridge.Crypto.Storage;
using OspBridge.Osp.Auth;

namespace OspBridge.Osp.Trust;

/// <summary>
/// The trust store: peers that authenticated (PIN pairing), kept in <c>trust.json</c> in the state directory —
/// fingerprint, id, display names, first/last seen, endpoints, per-app grants, flags and failure counts.
/// </summary>
/// <remarks>
/// <para>Every change is one read-modify-write under <c>trust.lock</c> (<see cref="StateLock"/>): the file is
/// re-read under the lock, changed, and written through <see cref="StateFileWriter"/> (temp + fsync + rename +
/// directory fsync), so concurrent processes never lose each other's changes and a kill -9 at any point leaves
/// either the old or the new file. <see cref="Peers"/> is the snapshot from the last load or change;
/// <see cref="Reload"/> refreshes it.</para>
/// <para>Revocation removes the peer's record: the next connection needs a PIN again and every grant is gone.
/// A trusted name seen with another fingerprint is never "updated" onto the old record (see
/// <see cref="OspSuspicionRules"/>); trust is only ever added by <see cref="RecordAuthenticated"/>.</para>
/// <para>Last-seen updates are coalesced (docs/trust.md "Write amplification"): re-authenticating a peer that is
/// already trusted, with nothing new but the time and endpoint, changes no trust; that touch is kept in memory
/// (visible at once through this instance) and written by one background read-modify-write at most
/// <see cref="LastSeenFlushDelay"/> later (at once on <see cref="Flush"/>, on any other change of this instance, and
/// at process exit). A kill -9 loses at most that delay's last-seen times, never trust. Reads re-check the file under
/// the lock but parse it only when its bytes changed (a per-process cache of the last parse), and the threads of one
/// process queue on an in-process gate before the file lock, so concurrent authentications neither poll the lock
/// nor re-parse a large file.</para>
/// <para>Bounds: at most <see cref="MaxUntrustedPeers"/> untrusted records (the oldest is evicted — the network
/// cannot grow the file without bound), <see cref="MaxNamesPerPeer"/> names and <see cref="MaxEndpointsPerPeer"/>
/// endpoints per peer, names cut to <see cref="MaxNameLength"/> characters, a file of at most 4 MiB.</para>
/// </remarks>
public sealed class OspTrustStore : IOspTrustStore
{
    /// <summary>File name inside the state directory.</summary>
    public const string FileName = "trust.json";

    /// <summary>Lock file name inside the state directory.</summary>
    public const string LockFileName = "trust.lock";

    /// <summary>Consecutive authentication failures after which a peer is flagged <see cref="OspPeerMarks.RepeatedAuthFailures"/>.</summary>
    public const int AuthFailureThreshold = 3;

    /// <summary>Most untrusted records kept (failure counters of unknown peers); the least recently seen goes first.</summary>
    public const int MaxUntrustedPeers = 256;

    /// <summary>Most display names kept per peer.</summary>
    public const int MaxNamesPerPeer = 8;

    /// <summary>Most endpoints kept per peer.</summary>
    public const int MaxEndpointsPerPeer = 8;

    /// <summary>Longest display name kept, in UTF-16 code units.</summary>
    public const int MaxNameLength = 256;

    private const int MaxFileBytes = 4 * 1024 * 1024;
    private const int CurrentVersion = 1;

    private static readonly Dictionary<string, WeakReference<DirectoryState>> Directories = new(StringComparer.Ordinal);
    private static readonly System.Threading.Lock DirectoriesGate = new();
    private static readonly ConcurrentDictionary<OspTrustStore, byte> Unflushed = new();
    private static int _exitHookInstalled;

    private readonly string _directory;
    private readonly TimeProvider _time;
    private readonly DirectoryState _shared;
    private readonly System.Threading.Lock _pendingGate = new();
    private readonly Dictionary<string, PendingTouch> _pending = new(StringComparer.Ordinal);
    private ITimer? _flushTimer;
    private bool _cleaned;
    private IReadOnlyList<OspTrustedPeer> _peers = [];

    private OspTrustStore(string directory, TimeProvider time)
    {
        _directory = directory;
        _time = time;
        _shared = SharedState(Path.GetFullPath(directory));
    }

    /// <summary>
    /// The one state of a directory in this process (gate + last parse), shared by its open stores. Held weakly here:
    /// it lives as long as some store of that directory does, so a process that opens many directories (tests, tools)
    /// keeps no parse of a directory it no longer uses.
    /// </summary>
    private static DirectoryState SharedState(string fullPath)
    {
        lock (DirectoriesGate)
        {
            if (Directories.TryGetValue(fullPath, out var weak) && weak.TryGetTarget(out var state)) return state;
            if (Directories.Count >= 64)
            {
                foreach (var (key, w) in Directories.ToList())
                    if (!w.TryGetTarget(out _)) Directories.Remove(key);
            }
            state = new DirectoryState();
            Directories[fullPath] = new WeakReference<DirectoryState>(state);
            return state;
        }
    }

    /// <summary>
    /// Longest time a coalesced last-seen update of an already trusted peer waits in memory before it is written
    /// (default 2 s; <see cref="TimeSpan.Zero"/>: written at once, as every other change).
    /// </summary>
    public TimeSpan LastSeenFlushDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Coalesced last-seen updates not yet written (0 after <see cref="Flush"/>).</summary>
    public int PendingLastSeenUpdates
    {
        get
        {
            lock (_pendingGate) return _pending.Count;
        }
    }

    /// <summary>The state directory.</summary>
    public string StateDirectory => _directory;

    /// <summary>All records (trusted and not) as of the last load or change, in file order.</summary>
    public IReadOnlyList<OspTrustedPeer> Peers => _peers;

    /// <summary>The trusted peers as of the last load or change.</summary>
    public IReadOnlyList<OspTrustedPeer> TrustedPeers => _peers.Where(p => p.Trusted).ToList();

    /// <summary>Opens (creating the directory 0700 when missing; the file appears with the first change) the store in <paramref name="stateDirectory"/>.</summary>
    /// <exception cref="OspException"><see cref="OspError.CorruptState"/> for an unreadable file, <see cref="OspError.InsecureState"/> for modes others could abuse.</exception>
    public static OspTrustStore Open(string stateDirectory, TimeProvider? timeProvider = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        var store = new OspTrustStore(stateDirectory, timeProvider ?? TimeProvider.System);
        Guard(() => StatePermissions.Prepare(stateDirectory));
        store.Reload();
        return store;
    }

    /// <summary>
    /// Brings <see cref="Peers"/> up to date with the file: a <c>stat</c> when the file is as last read or written by
    /// this process (every write replaces the file, so its write time and length tell), else a read and parse under the lock.
    /// </summary>
    public void Reload()
    {
        if (_shared.Cache is { } cache && cache.Stamp == Stamp(Path.Combine(_directory, FileName)))
        {
            _peers = WithPending(cache.Peers);
            return;
        }
        using var l = Lock();
        _peers = WithPending(Load());
    }

    /// <summary>Reads of the trust file's bytes by the stores of this directory in this process (each followed by a parse).</summary>
    public long FileReads => Interlocked.Read(ref _shared.Reads);

    /// <summary>Writes of the trust file by the stores of this directory in this process.</summary>
    public long FileWrites => Interlocked.Read(ref _shared.Writes);

    /// <summary>
    /// The file's write time, length and mode (0, -1, 0 when missing): what tells that another write replaced it, or
    /// that its permissions changed (a cached read must not skip the check that refuses a file others may write).
    /// </summary>
    private static (long Ticks, long Length, int Mode) Stamp(string path)
    {
        var info = new FileInfo(path);
        return info.Exists ? (info.LastWriteTimeUtc.Ticks, info.Length, OperatingSystem.IsWindows() ? 0 : (int)info.UnixFileMode) : (0L, -1L, 0);
    }

    /// <summary>The record of <paramref name="fingerprint"/> (fresh from disk), or null.</summary>
    public OspTrustedPeer? Find(string fingerprint)
    {
        Reload();
        return _peers.FirstOrDefault(p => p.Fingerprint == fingerprint);
    }

    /// <summary>True when <paramref name="fingerprint"/> is a trusted peer (fresh from disk): it may connect without a PIN.</summary>
    public bool IsTrusted(string fingerprint) => Find(fingerprint)?.Trusted == true;

    /// <summary>
    /// Records a successful authentication: the peer becomes trusted (or stays trusted), its name and endpoint
    /// are noted, the failure count and the failure flag are cleared.
    /// </summary>
    /// <remarks>For a peer that is already trusted and shows nothing new but the time and its endpoint (the
    /// reconnect of a paired peer), the update is coalesced: see <see cref="LastSeenFlushDelay"/>.</remarks>
    public OspTrustedPeer RecordAuthenticated(string fingerprint, string? displayName, string? endpoint = null)
    {
        if (LastSeenFlushDelay > TimeSpan.Zero && TryDeferTouch(fingerprint, displayName, endpoint) is { } deferred) return deferred;
        return Update(fingerprint, create: true, p => Touch(p, displayName, endpoint) with
        {
            Trusted = true,
            AuthFailures = 0,
            Marks = p.Marks & ~OspPeerMarks.RepeatedAuthFailures,
        })!;
    }

    /// <summary>Writes the coalesced last-seen updates now (one read-modify-write); nothing when there are none.</summary>
    public void Flush()
    {
        lock (_pendingGate)
        {
            if (_pending.Count == 0) return;
        }
        using var l = Lock();
        var peers = Load().ToList();
        if (!ApplyPending(peers)) _peers = peers;
        else Save(peers);
    }

    /// <summary>
    /// The coalesced path of <see cref="RecordAuthenticated"/>: when <paramref name="fingerprint"/> is trusted (fresh
    /// from disk), its record carries no failure count nor failure flag, and <paramref name="displayName"/> is its
    /// current name (or none), the new time and endpoint are kept in memory and written later. Null otherwise.
    /// </summary>
    private OspTrustedPeer? TryDeferTouch(string fingerprint, string? displayName, string? endpoint)
    {
        if (!OspPeerId.IsFingerprint(fingerprint)) return null;
        OspTrustedPeer? current;
        using (Lock())
        {
            _peers = WithPending(Load());
            current = _peers.FirstOrDefault(p => p.Fingerprint == fingerprint);
        }
        if (current is not { Trusted: true, AuthFailures: 0 } || (current.Marks & OspPeerMarks.RepeatedAuthFailures) != 0) return null;
        if (!string.IsNullOrWhiteSpace(displayName) && Trim(displayName) != current.Name) return null;
        var now = _time.GetUtcNow();
        bool schedule;
        lock (_pendingGate)
        {
            _pending.TryGetValue(fingerprint, out var touch);
            var endpoints = touch.Endpoints ?? [];
            if (!string.IsNullOrEmpty(endpoint) && endpoint.Length <= 64 && (endpoints.Count == 0 || endpoints[^1] != endpoint))
                endpoints = endpoints.Where(e => e != endpoint).Append(endpoint).TakeLast(MaxEndpointsPerPeer).ToList();
            _pending[fingerprint] = new PendingTouch(touch.LastSeen > now ? touch.LastSeen : now, endpoints);
            schedule = _flushTimer is null;
            if (schedule)
            {
                _flushTimer = _time.CreateTimer(static s => ((OspTrustStore)s!).FlushFromTimer(), this, LastSeenFlushDelay, Timeout.InfiniteTimeSpan);
            }
        }
        if (schedule)
        {
            Unflushed[this] = 0;
            InstallExitHook();
        }
        // The in-memory view: every other writer of _peers holds the directory's gate (Lock()), so this one does too —
        // unguarded, two concurrent touches each rebuilt _peers from the list before the other's and one was lost
        // (TrustStoreScaleTests: 5 of 32 concurrent authentications missing from Peers, session 11). WithPending applies
        // every pending touch, so the view holds all of them whichever touch writes last.
        _shared.Gate.Wait();
        try { _peers = WithPending(_peers); }
        finally { _shared.Gate.Release(); }
        return WithPending([current])[0];
    }

    private void FlushFromTimer()
    {
        try
        {
            Flush();
        }
        catch (Exception ex) when (ex is OspException or IOException or UnauthorizedAccessException)
        {
            // The file or directory became unusable (corrupt, insecure, removed, lock held for 30 s): keep the touches;
            // the next change of this instance or the exit hook retries. Never an unhandled exception on the timer.
            lock (_pendingGate)
            {
                _flushTimer?.Dispose();
                _flushTimer = null;
            }
        }
    }

    private static void InstallExitHook()
    {
        if (Interlocked.Exchange(ref _exitHookInstalled, 1) != 0) return;
        AppDomain.CurrentDomain.ProcessExit += static (_, _) =>
        {
            foreach (var store in Unflushed.Keys)
            {
                try
                {
                    store.Flush();
                }
                catch (Exception ex) when (ex is OspException or IOException or UnauthorizedAccessException)
                {
                    // best effort at exit: only last-seen times are lost
                }
            }
        };
    }

    /// <inheritdoc/>
    void IOspTrustStore.RecordAuthenticated(string fingerprint, string? displayName, string? endpoint) => RecordAuthenticated(fingerprint, displayName, endpoint);

    /// <inheritdoc/>
    void IOspTrustStore.RecordAuthFailure(string fingerprint, string? displayName, string? endpoint) => RecordAuthFailure(fingerprint, displayName, endpoint);

    /// <summary>Notes that a known peer was seen (connected or discovered): last seen, name, endpoint. Unknown fingerprints are ignored (returns null).</summary>
    public OspTrustedPeer? RecordSeen(string fingerprint, string? displayName, string? endpoint = null) =>
        Update(fingerprint, create: false, p => Touch(p, displayName, endpoint));

    /// <summary>Counts a failed authentication by <paramref name="fingerprint"/> (creating an untrusted record when unknown); flags it at <see cref="AuthFailureThreshold"/>.</summary>
    public OspTrustedPeer RecordAuthFailure(string fingerprint, string? displayName = null, string? endpoint = null) =>
        Update(fingerprint, create: true, p =>
        {
            int n = p.AuthFailures == int.MaxValue ? int.MaxValue : p.AuthFailures + 1;
            return Touch(p, displayName, endpoint) with
            {
                AuthFailures = n,
                Marks = n >= AuthFailureThreshold ? p.Marks | OspPeerMarks.RepeatedAuthFailures : p.Marks,
            };
        })!;

    /// <summary>
    /// Flags <paramref name="fingerprint"/> <see cref="OspPeerMarks.Suspicious"/> (creating an untrusted record when
    /// unknown), e.g. an agent that claims a trusted peer's name with another key. Trust is never added here.
    /// </summary>
    public OspTrustedPeer RecordSuspicious(string fingerprint, string? displayName = null, string? endpoint = null) =>
        Update(fingerprint, create: true, p => Touch(p, displayName, endpoint) with { Marks = p.Marks | OspPeerMarks.Suspicious })!;

    /// <summary>
    /// After authenticating a trusted peer: notes whether it advertises under a private instance name (sets or clears
    /// <see cref="OspPeerMarks.PrivateName"/>) and, when private, the real name it told after authentication
    /// (<paramref name="realName"/>, ignored when empty or itself a private name) — one read-modify-write, and no write
    /// when nothing changed. Returns the record as now stored; null when the peer is unknown or not trusted.
    /// </summary>
    public OspTrustedPeer? RecordPrivateName(string fingerprint, bool advertisesPrivately, string? realName)
    {
        OspTrustedPeer? found = null;
        var after = Update(fingerprint, create: false, p =>
        {
            found = p;
            if (!p.Trusted) return p;
            if (!advertisesPrivately) return p.Marks.HasFlag(OspPeerMarks.PrivateName) ? p with { Marks = p.Marks & ~OspPeerMarks.PrivateName } : p;
            var q = !string.IsNullOrWhiteSpace(realName) && !OspInstanceName.IsPrivate(realName) && p.Name != realName ? Touch(p, realName, null) : p;
            return q.Marks.HasFlag(OspPeerMarks.PrivateName) ? q : q with { Marks = q.Marks | OspPeerMarks.PrivateName };
        });
        return found is { Trusted: true } ? after : null;
    }

    /// <summary>Sets or clears flags on a known peer; null when unknown.</summary>
    public OspTrustedPeer? SetMarks(string fingerprint, OspPeerMarks set, OspPeerMarks clear = OspPeerMarks.None) =>
        Update(fingerprint, create: false, p => p with { Marks = (p.Marks | set) & ~clear });

    /// <summary>Revokes a peer: its record (trust, names, grants) is removed; the next connection needs a PIN. False when unknown.</summary>
    public bool Revoke(string fingerprint)
    {
        using var l = Lock();
        var peers = Load();
        lock (_pendingGate) _pending.Remove(fingerprint);
        var kept = peers.Where(p => p.Fingerprint != fingerprint).ToList();
        if (kept.Count == peers.Count)
        {
            _peers = WithPending(peers);
            return false;
        }
        ApplyPending(kept);
        Save(kept);
        return true;
    }

    /// <summary>Grants <paramref name="app"/> the use of the trusted peer <paramref name="fingerprint"/>.</summary>
    /// <exception cref="OspException"><see cref="OspError.PeerNotFound"/> when the peer is not trusted.</exception>
    public OspTrustedPeer Grant(string fingerprint, string app)
    {
        ArgumentException.ThrowIfNullOrEmpty(app);
        if (app.Length > MaxNameLength) throw new ArgumentException($"app name longer than {MaxNameLength}", nameof(app));
        var now = _time.GetUtcNow();
        return Update(fingerprint, create: false, p =>
        {
            if (!p.Trusted) throw new OspException(OspError.PeerNotFound, $"peer {p.Id} is not trusted; pair with it before granting '{app}'");
            if (p.Grants.Any(g => g.App == app)) return p;
            return p with { Grants = [.. p.Grants, new OspAppGrant(app, now)] };
        }) ?? throw new OspException(OspError.PeerNotFound, $"no peer with fingerprint {fingerprint}");
    }

    /// <summary>Revokes <paramref name="app"/>'s grant on a peer; false when there was none.</summary>
    public bool RevokeGrant(string fingerprint, string app)
    {
        bool removed = false;
        Update(fingerprint, create: false, p =>
        {
            var kept = p.Grants.Where(g => g.App != app).ToList();
            removed = kept.Count != p.Grants.Count;
            return removed ? p with { Grants = kept } : p;
        });
        return removed;
    }

    /// <summary>True when <paramref name="app"/> holds a grant on the trusted peer <paramref name="fingerprint"/> (fresh from disk).</summary>
    public bool HasGrant(string fingerprint, string app) =>
        Find(fingerprint) is { Trusted: true } p && p.Grants.Any(g => g.App == app);

    /// <summary>
    /// Finds a trusted peer by what a user typed: its id (exact), its display name (case-insensitive, exact), or a
    /// prefix of its fingerprint (at least 4 characters). Fresh from disk.
    /// </summary>
    /// <exception cref="OspException"><see cref="OspError.PeerNotFound"/> when nothing matches; <see cref="OspError.AmbiguousPeer"/>
    /// when several peers match (the message lists them as "name id fingerprint").</exception>
    public OspTrustedPeer Resolve(string query)
    {
        ArgumentNullException.ThrowIfNull(query);
        Reload();
        return ResolveIn(TrustedPeers, query);
    }

    /// <summary>The resolution rule of <see cref="Resolve"/> over a given list (pure).</summary>
    public static OspTrustedPeer ResolveIn(IReadOnlyCollection<OspTrustedPeer> peers, string query)
    {
        ArgumentNullException.ThrowIfNull(peers);
        ArgumentNullException.ThrowIfNull(query);
        var q = query.Trim();
        if (q.Length == 0) throw new OspException(OspError.PeerNotFound, "empty peer name");
        // An exact id or full fingerprint wins outright; then names; then fingerprint prefixes.
        var byId = peers.Where(p => string.Equals(p.Id, q, StringComparison.OrdinalIgnoreCase) || p.Fingerprint == q).ToList();
        if (byId.Count == 1) return byId[0];
        var byName = peers.Where(p => p.DisplayNames.Count > 0 && string.Equals(p.Name, q, StringComparison.OrdinalIgnoreCase)).ToList();
        var byPrefix = q.Length >= 4 ? peers.Where(p => p.Fingerprint.StartsWith(q, StringComparison.Ordinal)).ToList() : [];
        var all = byName.Concat(byPrefix).DistinctBy(p => p.Fingerprint).ToList();
        if (all.Count == 1) return all[0];
        if (all.Count == 0) throw new OspException(OspError.PeerNotFound, $"no trusted peer matches '{q}' (give a name, an id or at least 4 characters of a fingerprint)");
        var sb = new StringBuilder($"'{q}' matches {all.Count} peers; give the id:");
        foreach (var p in all) sb.Append(CultureInfo.InvariantCulture, $"\n  {p.Name ?? "(no name)"} {p.Id} {p.Fingerprint}");
        throw new OspException(OspError.AmbiguousPeer, sb.ToString());
    }

    private static string Trim(string displayName) => displayName.Length > MaxNameLength ? displayName[..MaxNameLength] : displayName;

    private OspTrustedPeer Touch(OspTrustedPeer p, string? displayName, string? endpoint)
    {
        var now = _time.GetUtcNow();
        var names = p.DisplayNames;
        if (!string.IsNullOrWhiteSpace(displayName))
        {
            var name = Trim(displayName);
            if (names.Count == 0 || names[^1] != name)
                names = names.Where(n => n != name).Append(name).TakeLast(MaxNamesPerPeer).ToList();
        }
        var endpoints = p.Endpoints;
        if (!string.IsNullOrEmpty(endpoint) && endpoint.Length <= 64 && (endpoints.Count == 0 || endpoints[^1] != endpoint))
            endpoints = endpoints.Where(e => e != endpoint).Append(endpoint).TakeLast(MaxEndpointsPerPeer).ToList();
        return p with { DisplayNames = names, Endpoints = endpoints, LastSeen = now };
    }

    private OspTrustedPeer? Update(string fingerprint, bool create, Func<OspTrustedPeer, OspTrustedPeer> change)
    {
        if (!OspPeerId.IsFingerprint(fingerprint))
            throw new ArgumentException("not an agent fingerprint (base64 of 32 bytes)", nameof(fingerprint));
        using var l = Lock();
        var peers = Load().ToList();
        bool touched = ApplyPending(peers); // this write carries the coalesced last-seen updates too
        int i = peers.FindIndex(p => p.Fingerprint == fingerprint);
        if (i < 0 && !create)
        {
            if (touched) Save(peers);
            else _peers = peers;
            return null;
        }
        var now = _time.GetUtcNow();
        var before = i >= 0 ? peers[i] : new OspTrustedPeer { Fingerprint = fingerprint, FirstSeen = now, LastSeen = now };
        var after = change(before);
        if (i >= 0) peers[i] = after;
        else peers.Add(after);
        // Bound the records the network can create: evict the least recently seen untrusted ones.
        var untrusted = peers.Where(p => !p.Trusted).ToList();
        if (untrusted.Count > MaxUntrustedPeers)
        {
            var evict = untrusted.OrderBy(p => p.LastSeen).Take(untrusted.Count - MaxUntrustedPeers).Select(p => p.Fingerprint).ToHashSet();
            evict.Remove(fingerprint);
            peers.RemoveAll(p => evict.Contains(p.Fingerprint));
        }
        if (!ReferenceEquals(before, after) || i < 0 || touched) Save(peers);
        else _peers = peers;
        return after;
    }

    /// <summary>The in-process gate (threads queue here, woken on release) and then the file lock (other processes).</summary>
    private Held Lock()
    {
        _shared.Gate.Wait();
        try
        {
            StateLock? l = null;
            Guard(() => l = StateLock.Acquire(Path.Combine(_directory, LockFileName)));
            return new Held(_shared.Gate, l!);
        }
        catch
        {
            _shared.Gate.Release();
            throw;
        }
    }

    /// <summary>The file's records (under the lock): read and parsed only when the file changed since the last read or write in this process.</summary>
    private IReadOnlyList<OspTrustedPeer> Load()
    {
        var path = Path.Combine(_directory, FileName);
        if (!_cleaned)
        {
            StateFileWriter.RemoveStaleTempFiles(_directory, FileName); // temp files of writes killed mid-way: once per instance, then before each write
            _cleaned = true;
        }
        var stamp = Stamp(path);
        if (_shared.Cache is { } cached && cached.Stamp == stamp) return cached.Peers;
        if (stamp.Length < 0)
        {
            _shared.Cache = new FileSnapshot(stamp, []);
            return [];
        }
        string text = "";
        Guard(() => text = StatePermissions.ReadAllText(path, MaxFileBytes));
        Interlocked.Increment(ref _shared.Reads);
        var parsed = OspTrustStoreFile.Parse(text, path).ToArray();
        // The stamp taken before the read: another process's write that slipped in between makes the next call read
        // again, never hides it.
        _shared.Cache = new FileSnapshot(stamp, parsed);
        return parsed;
    }

    private void Save(List<OspTrustedPeer> peers)
    {
        var text = OspTrustStoreFile.Format(peers, CurrentVersion);
        StateFileWriter.RemoveStaleTempFiles(_directory, FileName);
        var path = Path.Combine(_directory, FileName);
        Guard(() => StateFileWriter.Write(path, text));
        Interlocked.Increment(ref _shared.Writes);
        _shared.Cache = new FileSnapshot(Stamp(path), peers.ToArray());
        _peers = WithPending(peers);
    }

    /// <summary>Moves every coalesced touch into <paramref name="peers"/> (revoked peers' touches are dropped); true when one changed a record.</summary>
    private bool ApplyPending(List<OspTrustedPeer> peers)
    {
        lock (_pendingGate)
        {
            _flushTimer?.Dispose();
            _flushTimer = null;
            Unflushed.TryRemove(this, out _);
            if (_pending.Count == 0) return false;
            bool changed = false;
            for (int i = 0; i < peers.Count; i++)
            {
                if (!_pending.TryGetValue(peers[i].Fingerprint, out var touch) || !peers[i].Trusted) continue;
                var after = Apply(peers[i], touch);
                if (!ReferenceEquals(after, peers[i]))
                {
                    peers[i] = after;
                    changed = true;
                }
            }
            _pending.Clear();
            return changed;
        }
    }

    /// <summary>The records with this instance's coalesced touches laid over them (what this process has seen).</summary>
    private IReadOnlyList<OspTrustedPeer> WithPending(IReadOnlyList<OspTrustedPeer> peers)
    {
        lock (_pendingGate)
        {
            if (_pending.Count == 0) return peers;
            var list = new List<OspTrustedPeer>(peers.Count);
            foreach (var p in peers) list.Add(p.Trusted && _pending.TryGetValue(p.Fingerprint, out var touch) ? Apply(p, touch) : p);
            return list;
        }
    }

    private static OspTrustedPeer Apply(OspTrustedPeer p, PendingTouch touch)
    {
        var endpoints = p.Endpoints;
        foreach (var e in touch.Endpoints ?? [])
        {
            if (endpoints.Count == 0 || endpoints[^1] != e) endpoints = endpoints.Where(x => x != e).Append(e).TakeLast(MaxEndpointsPerPeer).ToList();
        }
        if (touch.LastSeen <= p.LastSeen && ReferenceEquals(endpoints, p.Endpoints)) return p;
        return p with { LastSeen = touch.LastSeen > p.LastSeen ? touch.LastSeen : p.LastSeen, Endpoints = endpoints };
    }

    /// <summary>A coalesced last-seen update: the latest time and the endpoints seen since the last write, oldest first.</summary>
    private readonly record struct PendingTouch(DateTimeOffset LastSeen, IReadOnlyList<string>? Endpoints);

    /// <summary>
    /// What the stores of one state directory share in this process: the gate and the one cache of the file — its last
    /// parse and the write time and length it had then (no copy of the text is kept).
    /// </summary>
    private sealed class DirectoryState
    {
        public long Reads;
        public long Writes;

        /// <summary>The last parse with the file stamp it belongs to, swapped as one (written under the gate, read without).</summary>
        public volatile FileSnapshot? Cache;

        public SemaphoreSlim Gate { get; } = new(1, 1);
    }

    /// <summary>The records of the file as it was when it had this write time and length.</summary>
    private sealed record FileSnapshot((long Ticks, long Length, int Mode) Stamp, IReadOnlyList<OspTrustedPeer> Peers);

    /// <summary>Both locks, released together.</summary>
    private readonly struct Held(SemaphoreSlim gate, StateLock file) : IDisposable
    {
        public void Dispose()
        {
            file.Dispose();
            gate.Release();
        }
    }

    private static void Guard(Action action)
    {
        try
        {
            action();
        }
        catch (CryptoException ex) when (ex.Error == CryptoError.InsecureState)
        {
            throw new OspException(OspError.InsecureState, ex.Message, ex);
        }
        catch (CryptoException ex)
        {
            throw new OspException(OspError.CorruptState, ex.Message, ex);
        }
    }
}
