using System.Net;
using System.Net.Security;
using OspBridge.Quic;

namespace OspBridge.Osp.Agent;

/// <summary>The advertising side of OSP: a QUIC listener (ALPN <c>osp</c>) that requires agent certificates from clients.</summary>
public sealed class OspAgentListener : IAsyncDisposable
{
    private readonly QuicListener _listener;
    private readonly OspAgentOptions _options;

    private OspAgentListener(QuicListener listener, OspAgentOptions options)
    {
        _listener = listener;
        _options = options;
    }

    /// <summary>The bound address (use its port in the mDNS SRV record).</summary>
    public IPEndPoint LocalEndPoint => _listener.LocalEndPoint;

    /// <summary>Starts listening on <paramref name="endPoint"/> (port 0: ephemeral).</summary>
    /// <exception cref="OspException">The QUIC listener could not start (<see cref="OspError.ConnectionFailed"/>, e.g. the port is taken).</exception>
    public static async Task<OspAgentListener> StartAsync(IPEndPoint endPoint, OspAgentOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var serverOptions = new QuicServerConnectionOptions
        {
            ConnectionIdLength = 0,
            IdleTimeout = options.IdleTimeout,
            MaxInboundBidirectionalStreams = 16,
            MaxInboundUnidirectionalStreams = 100,
            DefaultCloseErrorCode = OspConnection.NoErrorCode,
            DefaultStreamErrorCode = OspConnection.NoErrorCode,
            ServerAuthenticationOptions = new SslServerAuthenticationOptions
            {
                ApplicationProtocols = [new SslApplicationProtocol(OspAgentOptions.Alpn)],
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
                ApplicationProtocols = [new SslApplicationProtocol(OspAgentOptions.Alpn)],
                ConnectionOptionsCallback = (_, _, _) => ValueTask.FromResult(serverOptions),
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

        return new OspAgentListener(listener, options);
    }

    /// <summary>Accepts the next OSP connection (handshake complete, client certificate present).</summary>
    /// <exception cref="OspException">The listener failed or was closed, or the peer sent no agent certificate (<see cref="OspError.ProtocolError"/>).</exception>
    public async Task<OspConnection> AcceptAsync(CancellationToken cancellationToken = default)
    {
        QuicConnection quic;
        try
        {
            quic = await _listener.AcceptConnectionAsync(cancellationToken).ConfigureAwait(false);
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

    /// <summary>Stops listening.</summary>
    public ValueTask DisposeAsync() => _listener.DisposeAsync();
}
