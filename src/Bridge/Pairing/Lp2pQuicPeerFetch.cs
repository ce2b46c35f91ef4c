using OspBridge.Osp;
using OspBridge.Osp.Lp2p;
using OspBridge.PeerFetch.Streams;
using OspBridge.Quic;

namespace OspBridge.Bridge.Pairing;

/// <summary>
/// Adapts an <see cref="LP2PQuicTransport"/> (ALPN <c>q2q</c>, the same agent certificates as the authenticated OSP
/// connection) to PeerFetch's <see cref="IPeerFetchStreamConnection"/>: each PeerFetch request on its own
/// bidirectional QUIC stream. PeerFetch stays free of Osp/Quic; this is the whole seam. Owns the transport.
/// </summary>
internal sealed class Lp2pQuicPeerFetchConnection(LP2PQuicTransport transport) : IPeerFetchStreamConnection
{
    /// <summary>The transport.</summary>
    public LP2PQuicTransport Transport => transport;

    public async ValueTask<IPeerFetchDuplex> OpenStreamAsync(CancellationToken cancellationToken) =>
        new QuicTransportStream(await transport.CreateBidirectionalStreamAsync(cancellationToken).ConfigureAwait(false));

    /// <summary>Open, first bytes and FIN in one call: the request's HEADERS leave in the stream's first packet.</summary>
    public async ValueTask<IPeerFetchDuplex> OpenStreamAsync(ReadOnlyMemory<byte> first, bool completeWrites, CancellationToken cancellationToken) =>
        new QuicTransportStream(await transport.CreateBidirectionalStreamAsync(first, completeWrites, cancellationToken).ConfigureAwait(false));

    public async ValueTask<IPeerFetchDuplex?> AcceptStreamAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            QuicStream stream;
            try
            {
                stream = await transport.AcceptStreamAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OspException)
            {
                return null; // the transport closed
            }
            if (stream.Type == QuicStreamType.Bidirectional) return new QuicTransportStream(stream);
            // PeerFetch uses no unidirectional streams: refuse them (STOP_SENDING) and keep accepting.
            stream.Abort(QuicAbortDirection.Read, 0x7 /* REFUSED_STREAM */);
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await transport.CloseAsync(0, CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await transport.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class QuicTransportStream(QuicStream stream) : IPeerFetchLeasingDuplex
    {
        public ValueTask<Memory<byte>> LeaseWriteAsync(int maxLength, CancellationToken cancellationToken) => stream.LeaseWriteAsync(maxLength, cancellationToken);

        public void CommitLease(int count, bool completeWrites) => stream.CommitLease(count, completeWrites);

        public ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken) => stream.ReadAsync(buffer, cancellationToken);

        public ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, bool completeWrites, CancellationToken cancellationToken)
        {
            if (buffer.IsEmpty && completeWrites)
            {
                stream.CompleteWrites();
                return ValueTask.CompletedTask;
            }
            return stream.WriteAsync(buffer, completeWrites, cancellationToken);
        }

        public void AbortWrite(long errorCode) => stream.Abort(QuicAbortDirection.Write, errorCode);

        public void AbortRead(long errorCode) => stream.Abort(QuicAbortDirection.Read, errorCode);

        public Task WritesClosed => stream.WritesClosed;

        public ValueTask DisposeAsync() => stream.DisposeAsync();
    }
}
