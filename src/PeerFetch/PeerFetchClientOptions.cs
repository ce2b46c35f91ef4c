using Microsoft.Extensions.Logging;

namespace OspBridge.PeerFetch;

/// <summary>Which PeerFetch protocol a channel speaks.</summary>
public enum PeerFetchProtocol
{
    /// <summary>The original peerfetch: one JSON request at a time, whole bodies in one message.</summary>
    V1 = 1,
    /// <summary>Ours: multiplexed binary frames, streamed bodies, flow control (docs/peerfetch.md).</summary>
    V2 = 2,
}

/// <summary>Options of a <see cref="PeerFetchHandler"/>.</summary>
public sealed record PeerFetchClientOptions
{
    /// <summary>
    /// How long to wait for the device's HELLO before assuming a v1-only device. When the channel's sub-protocol is
    /// <c>peerfetch/2</c> the device is known to speak v2 and the wait only bounds a broken peer.
    /// </summary>
    public TimeSpan NegotiationTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Fall back to v1 when the device does not answer HELLO (default true).</summary>
    public bool AllowV1Fallback { get; init; } = true;

    /// <summary>v1 only: how long a request may wait for its final header.</summary>
    public TimeSpan V1RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Receive window per request (v2 flow control), bytes.</summary>
    public int StreamWindow { get; init; } = 1 << 20;

    /// <summary>Receive window of the whole channel (v2 flow control), bytes.</summary>
    public int ChannelWindow { get; init; } = 8 << 20;

    /// <summary>
    /// v2 on a message channel: send a PING after this long without any frame from the peer (default 15 s; zero: never).
    /// Keeps idle-timing transports (LP2P data channels ride a QUIC connection with a 30 s idle timeout) alive while a
    /// slow request waits. Over LP2P QUIC the transport's own keep-alive does this.
    /// </summary>
    public TimeSpan KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>v2 on a message channel: give the channel up (every request fails) after this long without any frame from the peer (default 60 s; zero: never).</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Logger.</summary>
    public ILogger? Logger { get; init; }

    /// <summary>Clock for deadlines (tests).</summary>
    public TimeProvider? TimeProvider { get; init; }
}
