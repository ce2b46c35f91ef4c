using OspBridge.PeerFetch.Wire;

namespace OspBridge.PeerFetch.Core;

/// <summary>Kinds of <see cref="MuxEvent"/>.</summary>
internal enum MuxEventType
{
    /// <summary>The peer's HELLO arrived: v2 is on.</summary>
    Negotiated,
    /// <summary>The peer answered our HELLO with a text message: it speaks only v1.</summary>
    PeerIsV1,
    /// <summary>No HELLO from the peer within the negotiation timeout.</summary>
    NegotiationTimedOut,
    /// <summary>The peer opened a stream (a request head).</summary>
    StreamOpened,
    /// <summary>A response head, or trailers (second HEADERS on a stream).</summary>
    Headers,
    /// <summary>Body bytes (a slice of the received message).</summary>
    Data,
    /// <summary>The stream was reset by the peer or refused by its GOAWAY.</summary>
    StreamReset,
    /// <summary>Send credit grew on a stream (or on the channel when StreamId is 0).</summary>
    Credit,
    /// <summary>The peer sent GOAWAY.</summary>
    GoAway,
    /// <summary>Our PING was answered.</summary>
    PingAck,
    /// <summary>The channel is dead (protocol error, either side).</summary>
    ConnectionError,
}

/// <summary>One thing the multiplexer core reports; events are queued, never raised.</summary>
internal readonly record struct MuxEvent(
    MuxEventType Type,
    uint StreamId = 0,
    List<KeyValuePair<string, string>>? Headers = null,
    ReadOnlyMemory<byte> Data = default,
    bool EndStream = false,
    PeerFetchErrorCode Code = PeerFetchErrorCode.NoError,
    string? Message = null,
    ulong Opaque = 0);
