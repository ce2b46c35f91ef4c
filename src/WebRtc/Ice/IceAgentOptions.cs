namespace OspBridge.WebRtc.Ice;

/// <summary>Options of an <see cref="IceAgent"/>. Defaults follow RFC 8445/7675 and Chrome's behaviour.</summary>
public sealed record IceAgentOptions
{
    /// <summary>Run as an ICE-lite agent (RFC 8445 §2.5): no checks of our own, always controlled.</summary>
    public bool Lite { get; init; }
    /// <summary>Our credentials; generated when null.</summary>
    public IceCredentials? LocalCredentials { get; init; }
    /// <summary>Tie-breaker; random when null.</summary>
    public ulong? TieBreaker { get; init; }
    /// <summary>Pacing interval Ta between checks (RFC 8445 §14.2; 50 ms default).</summary>
    public TimeSpan Ta { get; init; } = TimeSpan.FromMilliseconds(50);
    /// <summary>Initial retransmission timeout of a check.</summary>
    public TimeSpan InitialRto { get; init; } = TimeSpan.FromMilliseconds(250);
    /// <summary>Largest retransmission timeout of a check.</summary>
    public TimeSpan MaxRto { get; init; } = TimeSpan.FromMilliseconds(1600);
    /// <summary>Transmissions of one check before the pair fails (RFC 8489 Rc = 7).</summary>
    public int MaxTransmissions { get; init; } = 7;
    /// <summary>Controlling agent: how long to wait for better pairs after the first valid pair before nominating.</summary>
    public TimeSpan NominationDelay { get; init; } = TimeSpan.FromMilliseconds(200);
    /// <summary>Consent check interval on the selected pair (Chrome pings stable pairs every 2.5 s; randomised ±20 %).</summary>
    public TimeSpan ConsentInterval { get; init; } = TimeSpan.FromMilliseconds(2500);
    /// <summary>No consent response for this long: <see cref="RTCIceConnectionState.Disconnected"/> (Chrome: ~5 s unwritable).</summary>
    public TimeSpan DisconnectedTimeout { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>No consent response for this long: consent expired, <see cref="RTCIceConnectionState.Failed"/> (RFC 7675: 30 s).</summary>
    public TimeSpan ConsentTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Checking without any valid pair for this long: <see cref="RTCIceConnectionState.Failed"/>.</summary>
    public TimeSpan CheckingTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Most candidate pairs kept.</summary>
    public int MaxPairs { get; init; } = 100;
    /// <summary>Most remote candidates kept (including peer-reflexive ones).</summary>
    public int MaxRemoteCandidates { get; init; } = 64;
    /// <summary>
    /// Source of the agent's randomness (credentials, tie-breaker, transaction ids, consent jitter); null = the
    /// system's cryptographic generator. Tests pass a seeded deterministic subclass.
    /// </summary>
    public System.Security.Cryptography.RandomNumberGenerator? Random { get; init; }
    /// <summary>SOFTWARE attribute in our requests (null = none).</summary>
    public string? Software { get; init; }
}
