using System.Net;

namespace OspBridge.WebRtc.Ice;

/// <summary>
/// The seam between ICE and an mDNS responder/querier (draft-ietf-rtcweb-mdns-ice-candidates): publish our
/// <c>&lt;uuid&gt;.local</c> host names and resolve the peer's. OspBridge.Net's mDNS implements it; tests use a fake.
/// </summary>
public interface IMdnsHostNames
{
    /// <summary>Publishes <paramref name="hostName"/> (<c>&lt;uuid&gt;.local</c>) for <paramref name="address"/> until the returned handle is disposed.</summary>
    IAsyncDisposable Publish(string hostName, IPAddress address);

    /// <summary>Resolves a <c>.local</c> host name with an RFC 6762 query; null when nobody answers in time.</summary>
    Task<IPAddress?> ResolveAsync(string hostName, CancellationToken cancellationToken);
}
