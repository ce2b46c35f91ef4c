using Microsoft.Extensions.Logging;

namespace OspBridge.PeerFetch;

/// <summary>Options of a <see cref="PeerFetchDevice"/>: protocols, per-peer limits, logging.</summary>
public sealed record PeerFetchDeviceOptions
{
    /// <summary>Serve v1 (the original peerfetch) to peers whose first message is a JSON text request.</summary>
    public bool EnableV1 { get; init; } = true;

    /// <summary>Serve v2 to peers that start with HELLO. When false, a HELLO is answered as a bad v1 request.</summary>
    public bool EnableV2 { get; init; } = true;

    /// <summary>Requests one peer may have running at once (over all its channels); more get 429.</summary>
    public int MaxConcurrentRequestsPerPeer { get; init; } = 64;

    /// <summary>Largest request body a peer may send, bytes; larger gets 413.</summary>
    public long MaxRequestBodySize { get; init; } = 64L << 20;

    /// <summary>Sustained requests per second per peer (token bucket); above it 429 with Retry-After. 0 = no limit.</summary>
    public double RequestsPerSecondPerPeer { get; init; } = 100;

    /// <summary>Burst size of the per-peer token bucket.</summary>
    public int RequestBurstPerPeer { get; init; } = 200;

    /// <summary>v1: interval of the <c>{"status":202}</c> heartbeats while the application is working.</summary>
    public TimeSpan V1HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>v1: largest body message when the channel does not know the peer's max-message-size.</summary>
    public long V1DefaultMaxMessageSize { get; init; } = 65536;

    /// <summary>v2: receive window per request, bytes.</summary>
    public int StreamWindow { get; init; } = 1 << 20;

    /// <summary>v2: receive window per channel, bytes.</summary>
    public int ChannelWindow { get; init; } = 8 << 20;

    /// <summary>v2: requests one channel may have open at once (announced in HELLO).</summary>
    public int MaxConcurrentStreamsPerChannel { get; init; } = 128;

    /// <summary>
    /// v2 on a message channel: send a PING after this long without any frame from the peer (default 15 s; zero: never).
    /// Keeps idle-timing transports (LP2P data channels ride a QUIC connection with a 30 s idle timeout) alive while a
    /// slow request waits. Over LP2P QUIC the transport's own keep-alive does this.
    /// </summary>
    public TimeSpan KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>v2 on a message channel: give the channel up (every request fails) after this long without any frame from the peer (default 60 s; zero: never).</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Over a stream connection (LP2P QUIC): a stream the peer opened must deliver its whole request head within this
    /// time, else it is reset (default 10 s; zero: no limit). Bounds what a peer holds by opening streams and staying silent.
    /// </summary>
    public TimeSpan RequestHeadTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Access log and diagnostics.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>Clock for rate limits, heartbeats and durations.</summary>
    public TimeProvider? TimeProvider { get; init; }
}
