using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using OspBridge.Crypto.Identity;
using OspBridge.Osp.Agent;
using OspBridge.Quic;

namespace OspBridge.Osp.Lp2p;

/// <summary>Options of an <see cref="LP2PQuicTransport"/> (WICG LP2P <c>LP2PQuicTransportInit</c>, empty in the draft).</summary>
public sealed class LP2PQuicTransportInit
{
    /// <summary>Streams of each direction the peer may have open at once (default 100).</summary>
    public int MaxInboundStreams { get; init; } = 100;

    /// <summary>How long connecting may take (default 10 s).</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Send a QUIC PING after this long without sending anything, so a transport whose application is silent (a
    /// PeerFetch request waiting on a slow origin) is not closed by the idle timeout (<see cref="OspAgentOptions.IdleTimeout"/>)
    /// of either end. Null (default): a third of the idle timeout; <see cref="TimeSpan.Zero"/>: never.
    /// </summary>
    public TimeSpan? KeepAliveInterval { get; init; }
}

/// <summary>
/// An LP2P QUIC transport (WICG LP2P <c>LP2PQuicTransport</c>, "WebTransport extension"): a dedicated QUIC connection
/// to an LP2P peer with ALPN <c>q2q</c>, made with the same agent certificates as the authenticated OSP connection
/// (the client pins the peer's fingerprint; the listener accepts only peers with an authenticated, granted LP2P
/// connection). The application owns the streams: bidirectional and unidirectional QUIC streams, plus unreliable
/// datagrams (RFC 9221). The draft leaves the wire protocol inside the streams to the application.
/// </summary>
public sealed class LP2PQuicTransport : IAsyncDisposable
{
    /// <summary>ALPN of LP2PQuicTransport connections.</summary>
    public const string Alpn = "q2q";

    /// <summary>Largest DATAGRAM frame accepted (RFC 9221 <c>max_datagram_frame_size</c>).</summary>
    internal const int MaxDatagramFrameSize = 1200;

    private readonly QuicConnection _quic;
    private readonly IAsyncDisposable? _owned;

    internal LP2PQuicTransport(QuicConnection quic, string remoteFingerprint, IAsyncDisposable? owned = null)
    {
        _quic = quic;
        RemoteFingerprint = remoteFingerprint;
        _owned = owned;
    }

    /// <summary>The same transport, now also owning <paramref name="owned"/> (disposed with it).</summary>
    internal LP2PQuicTransport(LP2PQuicTransport transport, IAsyncDisposable owned)
        : this(transport._quic, transport.RemoteFingerprint, owned)
    {
    }

    /// <summary>The peer's agent fingerprint.</summary>
    public string RemoteFingerprint { get; }

    /// <summary>The peer's address.</summary>
    public IPEndPoint RemoteEndPoint => _quic.RemoteEndPoint;

    /// <summary>Largest datagram payload the peer accepts (0: none).</summary>
    public int MaxDatagramSize => _quic.MaxDatagramSize;

    /// <summary>
    /// Opens a dedicated QUIC connection (ALPN <c>q2q</c>) to the peer of <paramref name="connection"/>, which must be
    /// an authenticated connection we opened (an <see cref="LP2PRequest"/>): same address, same agent hostname (SNI),
    /// same pinned fingerprint, our same agent certificate.
    /// </summary>
    /// <exception cref="OspException">The connection is not ours to extend (<see cref="OspError.Refused"/>), or connecting failed.</exception>
    public static async Task<LP2PQuicTransport> ConnectAsync(LP2PConnection connection, LP2PQuicTransportInit? init = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(connection);
        init ??= new LP2PQuicTransportInit();
        OspConnection osp = connection.Connection;
        if (osp.TargetHostName is not { } hostname)
        {
            throw new OspException(OspError.Refused, "LP2PQuicTransport: only the side that opened the LP2P connection (the request) connects; the receiver accepts through LP2PQuicTransportListener");
        }

        if (!osp.IsAuthenticated || osp.Closed.IsCompleted)
        {
            throw new OspException(OspError.Refused, "LP2PQuicTransport: the LP2P connection is not authenticated or is closed");
        }

        string expected = osp.RemoteFingerprint;
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(init.ConnectTimeout);
        var options = new QuicClientConnectionOptions
        {
            RemoteEndPoint = osp.RemoteEndPoint,
            ConnectionIdLength = 0,
            IdleTimeout = osp.Options.IdleTimeout,
            KeepAliveInterval = init.KeepAliveInterval ?? (osp.Options.IdleTimeout > TimeSpan.Zero ? osp.Options.IdleTimeout / 3 : TimeSpan.FromSeconds(10)),
            MaxInboundBidirectionalStreams = init.MaxInboundStreams,
            MaxInboundUnidirectionalStreams = init.MaxInboundStreams,
            MaxDatagramFrameSize = MaxDatagramFrameSize,
            DefaultCloseErrorCode = 0,
            DefaultStreamErrorCode = 0,
            Logger = osp.Options.Logger,
            ClientAuthenticationOptions = new SslClientAuthenticationOptions
            {
                ApplicationProtocols = [new SslApplicationProtocol(Alpn)],
                TargetHost = hostname,
                ClientCertificates = [osp.Options.Identity.Certificate],
                RemoteCertificateValidationCallback = (_, cert, _, _) =>
                    cert is X509Certificate2 c2 && string.Equals(AgentIdentity.ComputeFingerprint(c2), expected, StringComparison.Ordinal),
            },
        };
        try
        {
            // The receiver may deny its grant while we connect: it then closes the LP2P connection (401). Fail with that
            // at once instead of handing out a transport the receiver will never serve.
            var connecting = QuicConnection.ConnectAsync(options, limit.Token).AsTask();
            if (await Task.WhenAny(connecting, osp.Closed).ConfigureAwait(false) != connecting)
            {
                await limit.CancelAsync().ConfigureAwait(false);
                _ = connecting.ContinueWith(static t => t.Result.DisposeAsync().AsTask(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
                throw Denied(osp);
            }

            var quic = await connecting.ConfigureAwait(false);
            if (osp.Closed.IsCompleted)
            {
                await quic.DisposeAsync().ConfigureAwait(false);
                throw Denied(osp);
            }

            // Later: a denial (or a revoke) of the LP2P connection ends the transport too, so nothing waits on it forever.
            _ = osp.Closed.ContinueWith(t =>
            {
                if (t.Result == OspConnection.NotAuthenticatedErrorCode) _ = quic.CloseAsync(OspConnection.NotAuthenticatedErrorCode).AsTask().ContinueWith(static c => _ = c.Exception, TaskScheduler.Default);
            }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return new LP2PQuicTransport(quic, expected);
        }
        catch (QuicException ex)
        {
            if (!cancellationToken.IsCancellationRequested && limit.IsCancellationRequested)
            {
                throw new OspException(OspError.Timeout, $"LP2PQuicTransport: connecting to {osp.RemoteEndPoint} took longer than {init.ConnectTimeout.TotalSeconds:0.#} s", ex);
            }

            throw OspErrors.FromQuic(ex, $"LP2PQuicTransport: connecting to {osp.RemoteEndPoint}", cancellationToken);
        }
    }

    private static OspException Denied(OspConnection osp)
    {
        long code = osp.Closed.Result;
        return new OspException(osp.ErrorForClose(code), osp.IsNotTrustedByPeer
            ? $"LP2PQuicTransport: {osp.NotTrustedByPeerMessage}"
            : code == OspConnection.NotAuthenticatedErrorCode
                ? $"LP2PQuicTransport: the peer {osp.RemoteFingerprint} refused the LP2P connection (no grant for this application, or not authenticated)"
                : $"LP2PQuicTransport: the LP2P connection to {osp.RemoteEndPoint} closed (application error {code})", null, code);
    }

    /// <summary>Opens a bidirectional stream (WebTransport <c>createBidirectionalStream</c>).</summary>
    public ValueTask<QuicStream> CreateBidirectionalStreamAsync(CancellationToken cancellationToken = default) =>
        OpenAsync(QuicStreamType.Bidirectional, cancellationToken);

    /// <summary>
    /// Opens a bidirectional stream and writes its first bytes — with <paramref name="completeWrites"/> also FIN — in one
    /// call, so they leave in the stream's first packet (a request that fits one write: one pass of the connection's loop
    /// instead of three). Waits while the peer's stream limit is reached; completes once all of <paramref name="data"/>
    /// is in the stream's send buffer (flow control as for any write).
    /// </summary>
    /// <exception cref="OspException">The transport closed.</exception>
    public async ValueTask<QuicStream> CreateBidirectionalStreamAsync(ReadOnlyMemory<byte> data, bool completeWrites, CancellationToken cancellationToken = default)
    {
        try
        {
            return await _quic.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, data, completeWrites, cancellationToken).ConfigureAwait(false);
        }
        catch (QuicException ex)
        {
            throw OspErrors.FromQuic(ex, "LP2PQuicTransport: opening a stream", cancellationToken);
        }
    }

    /// <summary>Opens a unidirectional stream (WebTransport <c>createUnidirectionalStream</c>).</summary>
    public ValueTask<QuicStream> CreateUnidirectionalStreamAsync(CancellationToken cancellationToken = default) =>
        OpenAsync(QuicStreamType.Unidirectional, cancellationToken);

    private async ValueTask<QuicStream> OpenAsync(QuicStreamType type, CancellationToken cancellationToken)
    {
        try
        {
            return await _quic.OpenOutboundStreamAsync(type, cancellationToken).ConfigureAwait(false);
        }
        catch (QuicException ex)
        {
            throw OspErrors.FromQuic(ex, "LP2PQuicTransport: opening a stream", cancellationToken);
        }
    }

    /// <summary>The next stream the peer opened (bidirectional or unidirectional: see <see cref="QuicStream.Type"/>).</summary>
    /// <exception cref="OspException">The transport closed.</exception>
    public async ValueTask<QuicStream> AcceptStreamAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return await _quic.AcceptInboundStreamAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (QuicException ex)
        {
            throw OspErrors.FromQuic(ex, "LP2PQuicTransport: accepting a stream", cancellationToken);
        }
    }

    /// <summary>Sends an unreliable datagram; false when it is larger than <see cref="MaxDatagramSize"/> or cannot be queued.</summary>
    public bool SendDatagram(ReadOnlySpan<byte> datagram) => _quic.SendDatagram(datagram);

    /// <summary>Receives the next datagram.</summary>
    /// <exception cref="OspException">The transport closed.</exception>
    public async ValueTask<byte[]> ReceiveDatagramAsync(CancellationToken cancellationToken = default)
    {
        try
        {
            return await _quic.ReceiveDatagramAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (QuicException ex)
        {
            throw OspErrors.FromQuic(ex, "LP2PQuicTransport: receiving a datagram", cancellationToken);
        }
    }

    /// <summary>Closes the transport with an application error code (0: no error).</summary>
    public async ValueTask CloseAsync(long errorCode = 0, CancellationToken cancellationToken = default)
    {
        try
        {
            await _quic.CloseAsync(errorCode, cancellationToken).ConfigureAwait(false);
        }
        catch (QuicException)
        {
        }
    }

    /// <summary>Closes and releases the transport (and the LP2P connection it was made for, when it owns it).</summary>
    public async ValueTask DisposeAsync()
    {
        await _quic.DisposeAsync().ConfigureAwait(false);
        if (_owned is not null) await _owned.DisposeAsync().ConfigureAwait(false);
    }
}
