using Microsoft.Extensions.Logging;

namespace OspBridge.Bridge.Pairing;

/// <summary>One trusted peer as the CLI shows it.</summary>
/// <param name="Id">Short stable id derived from the fingerprint.</param>
/// <param name="Name">Display name (latest seen).</param>
/// <param name="Fingerprint">Agent fingerprint (base64 SHA-256 of its SPKI).</param>
/// <param name="FirstSeen">When it was paired.</param>
/// <param name="LastSeen">Last authenticated connection.</param>
internal sealed record TrustedPeerView(string Id, string Name, string Fingerprint, DateTimeOffset FirstSeen, DateTimeOffset LastSeen);

/// <summary>The CLI's view of the trust store in the state directory (src/Osp/Trust).</summary>
internal sealed class PeerTrust : IDisposable
{
    private readonly string _stateDirectory;

    private PeerTrust(string stateDirectory)
    {
        _stateDirectory = stateDirectory;
    }

    /// <summary>Opens the trust store of <paramref name="stateDirectory"/>.</summary>
    public static PeerTrust Open(string stateDirectory, ILogger logger)
    {
        _ = logger;
        _ = new PeerTrust(stateDirectory);
        throw NotMerged(stateDirectory);
    }

    /// <summary>Every trusted peer.</summary>
    public IReadOnlyList<TrustedPeerView> List() => throw NotMerged(_stateDirectory);

    /// <summary>The peer named by a name, id or fingerprint prefix; null with the reason when none or several match.</summary>
    public TrustedPeerView? Resolve(string peer, out string? problem)
    {
        _ = peer;
        problem = null;
        throw NotMerged(_stateDirectory);
    }

    /// <summary>The trusted record of <paramref name="fingerprint"/>, or null.</summary>
    public TrustedPeerView? FindTrusted(string fingerprint) => throw NotMerged(_stateDirectory + fingerprint);

    /// <summary>Records a successful authentication (the peer becomes trusted).</summary>
    public TrustedPeerView RecordAuthenticated(string fingerprint, string? displayName, string? endpoint) => throw NotMerged(_stateDirectory + fingerprint + displayName + endpoint);

    /// <summary>Notes that a trusted peer connected again.</summary>
    public TrustedPeerView? RecordSeen(string fingerprint, string? displayName, string? endpoint) => throw NotMerged(_stateDirectory + fingerprint + displayName + endpoint);

    /// <summary>Counts a failed authentication by a peer (agent side only).</summary>
    public void RecordAuthFailure(string fingerprint, string? displayName, string? endpoint) => throw NotMerged(_stateDirectory + fingerprint + displayName + endpoint);

    /// <summary>Forgets <paramref name="peer"/>.</summary>
    public void Revoke(TrustedPeerView peer)
    {
        _ = peer;
        throw NotMerged(_stateDirectory);
    }

    /// <summary>The id of a fingerprint.</summary>
    public static string IdOf(string fingerprint)
    {
        _ = fingerprint;
        throw NotMerged("");
    }

    /// <summary>Releases the store.</summary>
    public void Dispose()
    {
    }

    internal static CliException NotMerged(string where) => new($"the trust store (src/Osp/Trust) is not available in this build ({where})");
}
