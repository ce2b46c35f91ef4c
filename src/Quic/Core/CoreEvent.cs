namespace OspBridge.Quic.Core;

/// <summary>Kinds of events the connection core reports to its driver.</summary>
internal enum CoreEventKind
{
    /// <summary>The handshake completed; the connection is usable.</summary>
    Connected,
    /// <summary>The peer opened a stream (see <see cref="ConnectionCore.TryAcceptStream"/>).</summary>
    StreamOpened,
    /// <summary>Data, FIN or a reset arrived on a stream.</summary>
    StreamReadable,
    /// <summary>Send buffer or flow-control credit became available, or the peer sent STOP_SENDING.</summary>
    StreamWritable,
    /// <summary>More outbound streams may be opened.</summary>
    StreamsAvailable,
    /// <summary>A DATAGRAM frame arrived.</summary>
    DatagramReceived,
    /// <summary>A new local connection ID was issued (listener routing must learn it).</summary>
    ConnectionIdIssued,
    /// <summary>A local connection ID was retired.</summary>
    ConnectionIdRetired,
    /// <summary>The connection is closed (draining finished or never needed).</summary>
    Closed,
}

/// <summary>One event from the core.</summary>
internal readonly record struct CoreEvent(CoreEventKind Kind, long StreamId = -1, byte[]? ConnectionId = null);
