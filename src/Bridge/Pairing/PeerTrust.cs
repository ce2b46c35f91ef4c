using Microsoft.Extensions.Logging;
using OspBridge.Osp;
using OspBridge.Osp.Trust;

namespace OspBridge.Bridge.Pairing;

/// <summary>One trusted peer as the CLI shows it.</summary>
/// <param name="Id">Short stable id derived from the fingerprint.</param>
/// <param name="Name">Display name (latest seen).</param>
/// <param name="Fingerprint">Agent fingerprint (base64 SHA-256 of its SPKI).</param>
/// <param name="FirstSeen">When it was first recorded.</param>
/// <param name="LastSeen">Last authenticated connection.</param>
internal sealed record TrustedPeerView(string Id, string Name, string Fingerprint, DateTimeOffset FirstSeen, DateTimeOffset LastSeen)
{
    /// <summary>The view of a store record (a peer without a known name shows its id).</summary>
    public static TrustedPeerView From(OspTrustedPeer p) => new(p.Id, p.Name ?? p.Id, p.Fingerprint, p.FirstSeen, p.LastSeen);
}

/// <summary>The CLI's view of the trust store in the state directory (<see cref="OspTrustStore"/>).</summary>
internal sealed class PeerTrust : IDisposable
{
    private readonly ILogger _logger;

    private PeerTrust(OspTrustStore store, ILogger logger)
    {
        Store = store;
        _logger = logger;
    }

    /// <summary>The underlying store.</summary>
    public OspTrustStore Store { get; }

    /// <summary>Opens the trust store of <paramref name="stateDirectory"/>.</summary>
    /// <exception cref="CliException">The store is corrupt or insecure (the message says which file and why).</exception>
    public static PeerTrust Open(string stateDirectory, ILogger logger)
    {
        try
        {
            return new PeerTrust(OspTrustStore.Open(stateDirectory), logger);
        }
        catch (OspException ex)
        {
            throw new CliException(ex.Message);
        }
    }

    /// <summary>Every trusted peer.</summary>
    public IReadOnlyList<TrustedPeerView> List()
    {
        Store.Reload();
        return Store.TrustedPeers.Select(TrustedPeerView.From).ToList();
    }

    /// <summary>The trusted peer named by a name, id or fingerprint prefix; null with the reason when none or several match.</summary>
    public TrustedPeerView? Resolve(string peer, out string? problem)
    {
        try
        {
            problem = null;
            return TrustedPeerView.From(Store.Resolve(peer));
        }
        catch (OspException ex) when (ex.Error is OspError.PeerNotFound or OspError.AmbiguousPeer)
        {
            problem = ex.Error == OspError.PeerNotFound ? null : ex.Message;
            return null;
        }
    }

    /// <summary>The trusted record of <paramref name="fingerprint"/>, or null.</summary>
    public TrustedPeerView? FindTrusted(string fingerprint) =>
        Store.Find(fingerprint) is { Trusted: true } p ? TrustedPeerView.From(p) : null;

    /// <summary>Records a successful authentication (the peer becomes trusted).</summary>
    public TrustedPeerView RecordAuthenticated(string fingerprint, string? displayName, string? endpoint) =>
        TrustedPeerView.From(Store.RecordAuthenticated(fingerprint, displayName, endpoint));

    /// <summary>Notes that a trusted peer connected again.</summary>
    public TrustedPeerView? RecordSeen(string fingerprint, string? displayName, string? endpoint) =>
        Store.RecordSeen(fingerprint, displayName, endpoint) is { } p ? TrustedPeerView.From(p) : null;

    /// <summary>Counts a failed authentication by a peer (agent side only).</summary>
    public void RecordAuthFailure(string fingerprint, string? displayName, string? endpoint)
    {
        var p = Store.RecordAuthFailure(fingerprint, displayName, endpoint);
        if (p.Marks.HasFlag(OspPeerMarks.RepeatedAuthFailures) && _logger.IsEnabled(LogLevel.Warning))
            _logger.LogWarning("peer {Id} ({Fingerprint}) flagged: {Failures} failed authentications", p.Id, fingerprint, p.AuthFailures);
    }

    /// <summary>Forgets <paramref name="peer"/>.</summary>
    public void Revoke(TrustedPeerView peer) => Store.Revoke(peer.Fingerprint);

    /// <summary>The id of a fingerprint.</summary>
    public static string IdOf(string fingerprint) => OspPeerId.FromFingerprint(fingerprint);

    /// <summary>Nothing to release (the store locks per operation).</summary>
    public void Dispose()
    {
    }
}
