using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using OspBridge.Crypto.Identity;
using OspBridge.Quic;

namespace OspBridge.Osp.Agent;

/// <summary>
/// The advertising side of OSP: a QUIC listener (ALPN <c>osp</c>) that requires agent certificates from clients.
/// Client addresses are validated with a QUIC Retry round trip before any handshake state is kept
/// (<see cref="OspAgentOptions.UseRetry"/>, on by default), and at most <see cref="OspAgentOptions.MaxPendingHandshakes"/>
/// handshakes are in progress at once (docs/security.md, "OSP connection limits").
/// </summary>
public sealed class OspAgentListener : IAsyncDisposable
{
    /// <summary>LP2PQuicTransport connections (ALPN <c>q2q</c>) waiting for their listener; more are refused.</summary>
    private const int QuicTransportBacklog = 16;

    private readonly QuicListener _listener;
    private readonly OspAgentOptions _options;
    private readonly Channel<QuicConnection>? _quicTransports;

    private OspAgentListener(QuicListener listener, OspAgentOptions options, bool acceptQuicTransports)
    {
        _listener = listener;
        _options = options;
        if (acceptQuicTransports)
        {
            _quicTransports = Channel.CreateBounded<QuicConnection>(new BoundedChannelOptions(QuicTransportBacklog) { SingleWriter = true });
        }
    }

    /// <summary>The bound address (use its port in the mDNS SRV record).</summary>
    public IPEndPoint LocalEndPoint => _listener.LocalEndPoint;

    /// <summary>Starts listening on <paramref name="endPoint"/> (port 0: ephemeral).</summary>
    /// <exception cref="OspException">The QUIC listener could not start (<see cref="OspError.ConnectionFailed"/>, e.g. the port is taken).</exception>
    public static Task<OspAgentListener> StartAsync(IPEndPoint endPoint, OspAgentOptions options, CancellationToken cancellationToken = default) =>
        StartAsync(endPoint, options, acceptQuicTransports: false, cancellationToken);

    /// <summary>
    /// Starts listening; with <paramref name="acceptQuicTransports"/> the same port also accepts LP2PQuicTransport
    /// connections (ALPN <c>q2q</c>, same agent certificates), taken by <see cref="AcceptQuicTransportAsync"/>.
    /// </summary>
    internal static async Task<OspAgentListener> StartAsync(IPEndPoint endPoint, OspAgentOptions options, bool acceptQuicTransports, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        List<SslApplicationProtocol> alpns = acceptQuicTransports
            ? [new SslApplicationProtocol(OspAgentOptions.Alpn), new SslApplicationProtocol(Lp2p.LP2PQuicTransport.Alpn)]
            : [new SslApplicationProtocol(OspAgentOptions.Alpn)];
        var serverOptions = new QuicServerConnectionOptions
        {
            ConnectionIdLength = 0,
            IdleTimeout = options.IdleTimeout,
            MaxInboundBidirectionalStreams = options.MaxDataChannels,
            MaxInboundUnidirectionalStreams = options.MaxInboundMessageStreams,
            // Chosen before ALPN is known: q2q connections need DATAGRAM (RFC 9221); OSP connections never send any.
            MaxDatagramFrameSize = acceptQuicTransports ? Lp2p.LP2PQuicTransport.MaxDatagramFrameSize : 0,
            DefaultCloseErrorCode = OspConnection.NoErrorCode,
            DefaultStreamErrorCode = OspConnection.NoErrorCode,
            ServerAuthenticationOptions = new SslServerAuthenticationOptions
            {
                ApplicationProtocols = alpns,
                ServerCertificate = options.Identity.Certificate,
                ClientCertificateRequired = true,
                // Any agent certificate is accepted here: its fingerprint identifies the peer, and the
                // application decides (trust store / PIN pairing) what that peer may do.
                RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null,
            },
        };
        QuicListener listener;
        try
        {
            listener = await QuicListener.ListenAsync(new QuicListenerOptions
            {
                ListenEndPoint = endPoint,
                ApplicationProtocols = alpns,
                ConnectionOptionsCallback = (_, _, _) => ValueTask.FromResult(serverOptions),
                // Retry (RFC 9000 §8.1.2): a spoofed or junk Initial costs no state; always by default, else under load.
                UseRetry = options.UseRetry,
                MaxPendingConnections = Math.Max(1, options.MaxPendingHandshakes),
                RetryAbovePendingConnections = Math.Max(1, options.MaxPendingHandshakes / 2),
                Logger = options.Logger,
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (QuicException ex)
        {
            throw OspErrors.FromQuic(ex, $"listening on {endPoint}", cancellationToken);
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            throw new OspException(OspError.ConnectionFailed, $"listening on {endPoint}: {ex.Message}", ex);
        }

        return new OspAgentListener(listener, options, acceptQuicTransports);
    }

    /// <summary>Whether <paramref name="quic"/> negotiated the LP2PQuicTransport ALPN.</summary>
    internal static bool IsQuicTransport(QuicConnection quic) =>
        quic.NegotiatedApplicationProtocol.ToString() == Lp2p.LP2PQuicTransport.Alpn;

    /// <summary>Accepts the next OSP connection (handshake complete, client certificate present).</summary>
    /// <exception cref="OspException">The listener failed or was closed, or the peer sent no agent certificate (<see cref="OspError.ProtocolError"/>).</exception>
    public async Task<OspConnection> AcceptAsync(CancellationToken cancellationToken = default)
    {
        QuicConnection quic;
        try
        {
            while (true)
            {
                quic = await _listener.AcceptConnectionAsync(cancellationToken).ConfigureAwait(false);
                if (!IsQuicTransport(quic)) break;
                if (_quicTransports is null || !_quicTransports.Writer.TryWrite(quic))
                {
                    await quic.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
        catch (QuicException ex)
        {
            throw OspErrors.FromQuic(ex, "accepting an OSP connection", cancellationToken);
        }
        catch (ObjectDisposedException ex)
        {
            throw new OspException(OspError.Closed, "accepting an OSP connection: the listener is closed", ex);
        }

        try
        {
            return OspConnection.FromAccepted(quic, _options);
        }
        catch (OspException)
        {
            await quic.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// The next LP2PQuicTransport connection (ALPN <c>q2q</c>) with the client's agent fingerprint; they are taken off
    /// the listener by <see cref="AcceptAsync"/>, which must be running.
    /// </summary>
    internal async ValueTask<(QuicConnection Quic, string Fingerprint)> AcceptQuicTransportAsync(CancellationToken cancellationToken)
    {
        var queue = _quicTransports ?? throw new InvalidOperationException("this listener does not accept LP2PQuicTransport connections");
        while (true)
        {
            QuicConnection quic;
            try
            {
                quic = await queue.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException ex)
            {
                throw new OspException(OspError.Closed, "accepting an LP2PQuicTransport: the listener is closed", ex);
            }

            if (quic.RemoteCertificate is X509Certificate2 cert)
            {
                return (quic, AgentIdentity.ComputeFingerprint(cert));
            }

            await quic.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Stops listening.</summary>
    public async ValueTask DisposeAsync()
    {
        _quicTransports?.Writer.TryComplete();
        await _listener.DisposeAsync().ConfigureAwait(false);
        if (_quicTransports is not null)
        {
            while (_quicTransports.Reader.TryRead(out var quic))
            {
                await quic.DisposeAsync().ConfigureAwait(false);
            }
        }
    }
}
