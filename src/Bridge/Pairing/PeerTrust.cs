using OspBridge.Osp;
using OspBridge.Osp.Trust;

namespace OspBridge.Bridge.Pairing;

/// <summary>One trusted peer as the CLI shows it.</summary>
/// <param name="Id">Short stable id derived from the fingerprint.</param>
/// <param name="Name">Display name (latest seen).</param>
/// <param name="Fingerprint">Agent fingerprint (base64 SHA-256 of its SPKI).</param>
/// <param name="FirstSeen">When it was first recorded.</param>
/// <param name="LastSeen">Last authenticated connection.</param>
/// <param name="Apps">Applications granted the use of this peer (LP2P per-app grants).</param>
internal sealed record TrustedPeerView(string Id, string Name, string Fingerprint, DateTimeOffset FirstSeen, DateTimeOffset LastSeen, IReadOnlyList<string> Apps)
{
    /// <summary>The view of a store record (a peer without a known name shows its id).</summary>
    public static TrustedPeerView From(OspTrustedPeer p) => new(p.Id, p.Name ?? p.Id, p.Fingerprint, p.FirstSeen, p.LastSeen, p.Grants.Select(g => g.App).ToList());
}

/// <summary>
/// The CLI's use of the one trust abstraction, <see cref="OspTrustStore"/> (which is also the pairing session's
/// <see cref="Osp.Auth.IOspTrustStore"/>): opening it with CLI errors, and the views the commands print.
/// </summary>
internal static class PeerTrust
{
    /// <summary>The LP2P application name the CLI's commands use for per-app grants (the receiver's and requests' nickname).</summary>
    public const string App = "ospbridge";

    /// <summary>Opens the trust store of <paramref name="stateDirectory"/>.</summary>
    /// <exception cref="CliException">The store is corrupt or insecure (the message says which file and why).</exception>
    public static OspTrustStore Open(string stateDirectory)
    {
        try
        {
            return OspTrustStore.Open(stateDirectory);
        }
        catch (OspException ex)
        {
            throw new CliException(ex.Message);
        }
    }

    /// <summary>Every trusted peer.</summary>
    public static IReadOnlyList<TrustedPeerView> List(this OspTrustStore store)
    {
        store.Reload();
        return store.TrustedPeers.Select(TrustedPeerView.From).ToList();
    }

    /// <summary>The trusted peer named by a name, id or fingerprint prefix; null with the reason when none or several match.</summary>
    public static TrustedPeerView? TryResolve(this OspTrustStore store, string peer, out string? problem)
    {
        try
        {
            problem = null;
            return TrustedPeerView.From(store.Resolve(peer));
        }
        catch (OspException ex) when (ex.Error is OspError.PeerNotFound or OspError.AmbiguousPeer)
        {
            problem = ex.Error == OspError.PeerNotFound ? null : ex.Message;
            return null;
        }
    }

    /// <summary>The trusted record of <paramref name="fingerprint"/> as a view, or null.</summary>
    public static TrustedPeerView? FindTrusted(this OspTrustStore store, string fingerprint) =>
        store.Find(fingerprint) is { Trusted: true } p ? TrustedPeerView.From(p) : null;

    /// <summary>The id of a fingerprint.</summary>
    public static string IdOf(string fingerprint) => OspPeerId.FromFingerprint(fingerprint);
}
