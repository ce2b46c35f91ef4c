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

    private readonly string _directory;
    private readonly TimeProvider _time;
    private IReadOnlyList<OspTrustedPeer> _peers = [];

    private OspTrustStore(string directory, TimeProvider time)
    {
        _directory = directory;
        _time = time;
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

    /// <summary>Re-reads the file (under the lock) into <see cref="Peers"/>.</summary>
    public void Reload()
    {
        using var l = Lock();
        _peers = Load();
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
    public OspTrustedPeer RecordAuthenticated(string fingerprint, string? displayName, string? endpoint = null) =>
        Update(fingerprint, create: true, p => Touch(p, displayName, endpoint) with
        {
            Trusted = true,
            AuthFailures = 0,
            Marks = p.Marks & ~OspPeerMarks.RepeatedAuthFailures,
        })!;

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

    /// <summary>Sets or clears flags on a known peer; null when unknown.</summary>
    public OspTrustedPeer? SetMarks(string fingerprint, OspPeerMarks set, OspPeerMarks clear = OspPeerMarks.None) =>
        Update(fingerprint, create: false, p => p with { Marks = (p.Marks | set) & ~clear });

    /// <summary>Revokes a peer: its record (trust, names, grants) is removed; the next connection needs a PIN. False when unknown.</summary>
    public bool Revoke(string fingerprint)
    {
        using var l = Lock();
        var peers = Load();
        var kept = peers.Where(p => p.Fingerprint != fingerprint).ToList();
        if (kept.Count == peers.Count)
        {
            _peers = peers;
            return false;
        }
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

    private OspTrustedPeer Touch(OspTrustedPeer p, string? displayName, string? endpoint)
    {
        var now = _time.GetUtcNow();
        var names = p.DisplayNames;
        if (!string.IsNullOrWhiteSpace(displayName))
        {
            var name = displayName.Length > MaxNameLength ? displayName[..MaxNameLength] : displayName;
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
        int i = peers.FindIndex(p => p.Fingerprint == fingerprint);
        if (i < 0 && !create)
        {
            _peers = peers;
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
        if (!ReferenceEquals(before, after) || i < 0) Save(peers);
        else _peers = peers;
        return after;
    }

    private StateLock Lock()
    {
        StateLock? l = null;
        Guard(() => l = StateLock.Acquire(Path.Combine(_directory, LockFileName)));
        return l!;
    }

    private IReadOnlyList<OspTrustedPeer> Load()
    {
        var path = Path.Combine(_directory, FileName);
        StateFileWriter.RemoveStaleTempFiles(_directory, FileName);
        if (!File.Exists(path)) return [];
        string text = "";
        Guard(() => text = StatePermissions.ReadAllText(path, MaxFileBytes));
        return OspTrustStoreFile.Parse(text, path);
    }

    private void Save(List<OspTrustedPeer> peers)
    {
        var text = OspTrustStoreFile.Format(peers, CurrentVersion);
        Guard(() => StateFileWriter.Write(Path.Combine(_directory, FileName), text));
        _peers = peers;
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
