namespace OspBridge.PeerFetch.Streams;

/// <summary>
/// A connection that carries many independent bidirectional byte streams — an LP2P QUIC transport (ALPN <c>q2q</c>)
/// or any QUIC-like session. PeerFetch over it puts each request on its own stream (docs/peerfetch.md §2.6), so a
/// slow or large exchange never blocks another. Implemented by the layer that owns the transport (the Bridge adapts
/// <c>LP2PQuicTransport</c>); PeerFetch only needs these verbs.
/// </summary>
public interface IPeerFetchStreamConnection : IAsyncDisposable
{
    /// <summary>Opens a bidirectional stream (waits while the peer's stream limit is reached).</summary>
    ValueTask<IPeerFetchDuplex> OpenStreamAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Opens a bidirectional stream and writes its first bytes (then FIN with <paramref name="completeWrites"/>) in one
    /// call, so a transport can put them in the stream's first packet (a QUIC stream: one loop pass instead of three).
    /// Completes once the bytes are accepted; the caller may reuse <paramref name="first"/> then. The default opens with
    /// <see cref="OpenStreamAsync(CancellationToken)"/> and writes with <see cref="IPeerFetchDuplex.WriteAsync"/>.
    /// </summary>
    async ValueTask<IPeerFetchDuplex> OpenStreamAsync(ReadOnlyMemory<byte> first, bool completeWrites, CancellationToken cancellationToken)
    {
        var stream = await OpenStreamAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await stream.WriteAsync(first, completeWrites, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return stream;
    }

    /// <summary>The next bidirectional stream the peer opened; null once the connection is closed.</summary>
    ValueTask<IPeerFetchDuplex?> AcceptStreamAsync(CancellationToken cancellationToken);
}

/// <summary>One bidirectional byte stream of an <see cref="IPeerFetchStreamConnection"/> (a QUIC stream).</summary>
public interface IPeerFetchDuplex : IAsyncDisposable
{
    /// <summary>Reads bytes; 0 once the peer finished its side (FIN). Throws when the peer reset it or the connection closed.</summary>
    ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken);

    /// <summary>Writes bytes; <paramref name="completeWrites"/> finishes our side after them (FIN).</summary>
    ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, bool completeWrites, CancellationToken cancellationToken);

    /// <summary>Aborts our sending side (QUIC RESET_STREAM) with an application error code.</summary>
    void AbortWrite(long errorCode);

    /// <summary>Asks the peer to stop sending (QUIC STOP_SENDING) with an application error code.</summary>
    void AbortRead(long errorCode);

    /// <summary>
    /// Completes when everything we wrote reached the peer; faults when the peer stopped reading (STOP_SENDING), the
    /// stream was aborted or the connection closed. The device watches it to cancel an origin request the client gave up.
    /// </summary>
    Task WritesClosed { get; }
}

/// <summary>
/// A <see cref="IPeerFetchDuplex"/> whose transport lends its send buffer (a QUIC stream's send ring): the device reads
/// the origin's body straight into it and frames it there, so the body costs no copy into the transport.
/// </summary>
public interface IPeerFetchLeasingDuplex : IPeerFetchDuplex
{
    /// <summary>
    /// Lends up to <paramref name="maxLength"/> bytes of send buffer (contiguous, possibly fewer; waits for room). No other
    /// write may happen until <see cref="CommitLease"/>.
    /// </summary>
    ValueTask<Memory<byte>> LeaseWriteAsync(int maxLength, CancellationToken cancellationToken);

    /// <summary>Sends the first <paramref name="count"/> bytes of the lease (0: none), then FIN if <paramref name="completeWrites"/>.</summary>
    void CommitLease(int count, bool completeWrites);
}
