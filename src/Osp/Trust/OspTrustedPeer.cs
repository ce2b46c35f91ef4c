namespace OspBridge.Osp.Trust;

/// <summary>Flags kept on a peer record.</summary>
[Flags]
public enum OspPeerMarks
{
    /// <summary>Nothing noted.</summary>
    None = 0,

    /// <summary>A suspicious-agent rule fired for this peer (see <see cref="OspSuspicionRules"/>); shown to the user.</summary>
    Suspicious = 1,

    /// <summary>Authentication failed <see cref="OspTrustStore.AuthFailureThreshold"/> times or more in a row.</summary>
    RepeatedAuthFailures = 2,

    /// <summary>
    /// The peer advertises a private (random) instance name; its real name was learnt after authentication. Lookups
    /// of this peer go by fingerprint only — never an mDNS query for its name, which would broadcast it.
    /// </summary>
    PrivateName = 4,
}

/// <summary>One application's grant to use a peer (the LP2P "peer grant state", per peer per origin).</summary>
/// <param name="App">The application (an origin such as <c>https://example.com</c>, or a local app name).</param>
/// <param name="Granted">When the user granted it.</param>
public sealed record OspAppGrant(string App, DateTimeOffset Granted);

/// <summary>
/// One peer in the <see cref="OspTrustStore"/>: an agent identified by its fingerprint. <see cref="Trusted"/> peers
/// authenticated (PIN pairing) and reconnect without a PIN; untrusted records exist only to count authentication
/// failures (bounded in number, oldest evicted).
/// </summary>
public sealed record OspTrustedPeer
{
    /// <summary>The agent fingerprint (base64 SHA-256 of the SPKI) — the identity.</summary>
    public required string Fingerprint { get; init; }

    /// <summary>The short id (<see cref="OspPeerId"/>).</summary>
    public string Id => OspPeerId.FromFingerprint(Fingerprint);

    /// <summary>Display names seen under this fingerprint, oldest first, the current one last (at most <see cref="OspTrustStore.MaxNamesPerPeer"/>).</summary>
    public IReadOnlyList<string> DisplayNames { get; init; } = [];

    /// <summary>The current display name (the last one seen), or null when none is known.</summary>
    public string? Name => DisplayNames.Count > 0 ? DisplayNames[^1] : null;

    /// <summary>When the peer was first recorded.</summary>
    public DateTimeOffset FirstSeen { get; init; }

    /// <summary>When the peer was last seen (authenticated, connected or discovered).</summary>
    public DateTimeOffset LastSeen { get; init; }

    /// <summary>True when the peer authenticated and is trusted (no PIN on reconnect).</summary>
    public bool Trusted { get; init; }

    /// <summary>Consecutive authentication failures (reset by a success).</summary>
    public int AuthFailures { get; init; }

    /// <summary>Flags (suspicious, repeated failures).</summary>
    public OspPeerMarks Marks { get; init; }

    /// <summary>The last endpoints the peer was seen at ("address:port"), most recent last (at most <see cref="OspTrustStore.MaxEndpointsPerPeer"/>).</summary>
    public IReadOnlyList<string> Endpoints { get; init; } = [];

    /// <summary>Per-application grants (listed, revocable).</summary>
    public IReadOnlyList<OspAppGrant> Grants { get; init; } = [];
}
