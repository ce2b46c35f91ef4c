using System.Net;
using System.Net.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OspBridge.Net.IO;

namespace OspBridge.Quic;

/// <summary>Stream direction (values match System.Net.Quic).</summary>
public enum QuicStreamType
{
    /// <summary>Data flows only from the opener.</summary>
    Unidirectional = 0,
    /// <summary>Data flows both ways.</summary>
    Bidirectional = 1,
}

/// <summary>Which side(s) of a stream to abort (values match System.Net.Quic).</summary>
[Flags]
public enum QuicAbortDirection
{
    /// <summary>Abort reading (sends STOP_SENDING).</summary>
    Read = 1,
    /// <summary>Abort writing (sends RESET_STREAM).</summary>
    Write = 2,
    /// <summary>Both.</summary>
    Both = Read | Write,
}

/// <summary>Initial receive windows (flow-control credit we grant), as in System.Net.Quic.</summary>
public sealed class QuicReceiveWindowSizes
{
    /// <summary>Connection-level window (initial_max_data).</summary>
    public int Connection { get; set; } = 1 << 20;
    /// <summary>Window for bidirectional streams we open.</summary>
    public int LocallyInitiatedBidirectionalStream { get; set; } = 256 << 10;
    /// <summary>Window for bidirectional streams the peer opens.</summary>
    public int RemotelyInitiatedBidirectionalStream { get; set; } = 256 << 10;
    /// <summary>Window for unidirectional streams the peer opens.</summary>
    public int UnidirectionalStream { get; set; } = 256 << 10;
}

/// <summary>Extension: the congestion controller of a connection.</summary>
public enum QuicCongestionControl
{
    /// <summary>NewReno (RFC 9002 §7): halves the window on loss, grows it by one datagram per round trip.</summary>
    NewReno,
    /// <summary>CUBIC (RFC 9438): reduces the window to 0.7× on loss and regrows it along a cubic curve in time, with a Reno-friendly floor.</summary>
    Cubic,
}

/// <summary>Options shared by client and server connections (shaped like System.Net.Quic's <c>QuicConnectionOptions</c>).</summary>
public abstract class QuicConnectionOptions
{
    private protected QuicConnectionOptions() { }

    /// <summary>How many bidirectional streams the peer may open at once (default: 0 on clients, 100 on servers).</summary>
    public int MaxInboundBidirectionalStreams { get; set; }
    /// <summary>How many unidirectional streams the peer may open at once (default: 0 on clients, 10 on servers).</summary>
    public int MaxInboundUnidirectionalStreams { get; set; }
    /// <summary>Idle timeout (Zero = 30 s default).</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.Zero;
    /// <summary>Handshake must complete within this time (default 10 s).</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>Send PINGs when idle this long (Zero = never).</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.Zero;
    /// <summary>Error code used when a stream is disposed without completing (reads aborted).</summary>
    public long DefaultStreamErrorCode { get; set; } = -1;
    /// <summary>Error code used when a connection is disposed without CloseAsync.</summary>
    public long DefaultCloseErrorCode { get; set; } = -1;
    /// <summary>Initial flow-control windows we grant.</summary>
    public QuicReceiveWindowSizes InitialReceiveWindowSizes { get; set; } = new();
    /// <summary>Extension: largest DATAGRAM frame accepted (RFC 9221); 0 disables datagrams.</summary>
    public int MaxDatagramFrameSize { get; set; }
    /// <summary>Extension: length of the connection IDs we issue; 0 uses zero-length connection IDs (OSP).</summary>
    public int ConnectionIdLength { get; set; } = 8;
    /// <summary>Extension: initiate a 1-RTT key update every this many packets (0 = never; for testing).</summary>
    public long KeyUpdateInterval { get; set; }
    /// <summary>
    /// Extension: the congestion controller (null = the default, <see cref="QuicCongestionControl.NewReno"/>; the
    /// environment variable <c>OSPBRIDGE_QUIC_CC=cubic|newreno</c> changes the default for A/B runs).
    /// </summary>
    public QuicCongestionControl? CongestionControl { get; set; }
    /// <summary>
    /// Extension: the largest UDP payload this connection accepts (its max_udp_payload_size) and the ceiling of its
    /// Path MTU discovery (RFC 9000 §14.3, RFC 8899): after the handshake the connection sends 1452-byte datagrams
    /// and probes upward while it has data to send, keeping each size the peer acknowledges. 1452 or less turns
    /// discovery off; at most <see cref="MaxSupportedUdpPayloadSize"/> (the default). The environment variable
    /// <c>OSPBRIDGE_QUIC_PMTU=off</c> turns discovery off for connections that keep the default (A/B runs).
    /// </summary>
    public int MaxUdpPayloadSize { get; set; } = DefaultMaxUdpPayloadSize;

    /// <summary>The largest <see cref="MaxUdpPayloadSize"/> this implementation receives (its receive buffers' slot size).</summary>
    public const int MaxSupportedUdpPayloadSize = 65507;

    private static readonly int DefaultMaxUdpPayloadSize =
        Environment.GetEnvironmentVariable("OSPBRIDGE_QUIC_PMTU") switch
        {
            "off" => 1452,
            { } v when int.TryParse(v, out int n) && n is >= 1200 and <= MaxSupportedUdpPayloadSize => n,
            _ => MaxSupportedUdpPayloadSize,
        };

    /// <summary>Extension: where the connection logs (loop failures, dropped input). Server connections log to the listener's logger when this is the null logger.</summary>
    public ILogger Logger { get; set; } = NullLogger.Instance;

    internal void ValidateCommon()
    {
        if (MaxInboundBidirectionalStreams < 0 || MaxInboundUnidirectionalStreams < 0) throw new ArgumentOutOfRangeException(nameof(MaxInboundBidirectionalStreams));
        if (MaxUdpPayloadSize is < 1200 or > MaxSupportedUdpPayloadSize) throw new ArgumentOutOfRangeException(nameof(MaxUdpPayloadSize));
        if (ConnectionIdLength is < 0 or > 20 || ConnectionIdLength is > 0 and < 4) throw new ArgumentOutOfRangeException(nameof(ConnectionIdLength));
        if (DefaultStreamErrorCode < 0 || DefaultCloseErrorCode < 0)
            throw new ArgumentOutOfRangeException(nameof(DefaultCloseErrorCode), "DefaultStreamErrorCode and DefaultCloseErrorCode must be set (≥ 0)");
    }
}

/// <summary>Client connection options.</summary>
public sealed class QuicClientConnectionOptions : QuicConnectionOptions
{
    /// <summary>Creates options with client defaults.</summary>
    public QuicClientConnectionOptions()
    {
        MaxInboundBidirectionalStreams = 0;
        MaxInboundUnidirectionalStreams = 0;
    }

    /// <summary>TLS settings: ApplicationProtocols (required), TargetHost (SNI), RemoteCertificateValidationCallback, ClientCertificates, CipherSuitesPolicy.</summary>
    public SslClientAuthenticationOptions ClientAuthenticationOptions { get; set; } = null!;
    /// <summary>Server address (IPEndPoint or DnsEndPoint).</summary>
    public EndPoint RemoteEndPoint { get; set; } = null!;
    /// <summary>Local address to bind (null: any, ephemeral port).</summary>
    public IPEndPoint? LocalEndPoint { get; set; }
    /// <summary>Extension: opens the connection's UDP socket (tests pass one that opens it inside a network namespace).</summary>
    public IDatagramSocketFactory SocketFactory { get; set; } = UdpSocketFactory.Default;
    /// <summary>Extension: clock and timers of the connection's loop.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}

/// <summary>Server connection options (returned per connection by the listener's callback).</summary>
public sealed class QuicServerConnectionOptions : QuicConnectionOptions
{
    /// <summary>Creates options with server defaults.</summary>
    public QuicServerConnectionOptions()
    {
        MaxInboundBidirectionalStreams = 100;
        MaxInboundUnidirectionalStreams = 10;
    }

    /// <summary>TLS settings: ServerCertificate (with private key), ApplicationProtocols, ClientCertificateRequired, RemoteCertificateValidationCallback, CipherSuitesPolicy.</summary>
    public SslServerAuthenticationOptions ServerAuthenticationOptions { get; set; } = null!;
}

/// <summary>Listener options.</summary>
public sealed class QuicListenerOptions
{
    /// <summary>Address and port to listen on (port 0: ephemeral).</summary>
    public IPEndPoint ListenEndPoint { get; set; } = null!;
    /// <summary>ALPN protocols the listener accepts.</summary>
    public List<SslApplicationProtocol> ApplicationProtocols { get; set; } = null!;
    /// <summary>Most connections waiting in <see cref="QuicListener.AcceptConnectionAsync"/>.</summary>
    public int ListenBacklog { get; set; } = 512;
    /// <summary>
    /// Chooses the options of each incoming connection. Called before the ClientHello is parsed, so
    /// <see cref="SslClientHelloInfo.ServerName"/> is empty in this implementation.
    /// </summary>
    public Func<QuicConnection, SslClientHelloInfo, CancellationToken, ValueTask<QuicServerConnectionOptions>> ConnectionOptionsCallback { get; set; } = null!;
    /// <summary>Extension: validate client addresses with a Retry round trip (RFC 9000 §8.1.2).</summary>
    public bool UseRetry { get; set; }
    /// <summary>
    /// Extension: most connections whose handshake has not completed yet. Each costs memory (no thread); over the
    /// cap, new clients' Initials are dropped (the client retransmits, so it gets in once handshakes finish or
    /// time out).
    /// </summary>
    public int MaxPendingConnections { get; set; } = 256;
    /// <summary>
    /// Extension: Retry under load — while at least this many handshakes are pending, a new client must first
    /// prove its address with a Retry round trip (RFC 9000 §8.1.2), so spoofed Initials cannot fill the pending
    /// table. Default 128 (half of the default <see cref="MaxPendingConnections"/>); <c>int.MaxValue</c> turns it
    /// off. <see cref="UseRetry"/> requires Retry always.
    /// </summary>
    public int RetryAbovePendingConnections { get; set; } = 128;
    /// <summary>Stateless resets the listener sends per second at most, on average (token bucket; issue 9).</summary>
    internal double StatelessResetsPerSecond { get; set; } = 100;
    /// <summary>Stateless resets the listener may send back to back (the bucket's size).</summary>
    internal int StatelessResetBurst { get; set; } = 100;
    /// <summary>Extension: opens the listener's UDP socket (tests pass one that opens it inside a network namespace).</summary>
    public IDatagramSocketFactory SocketFactory { get; set; } = UdpSocketFactory.Default;
    /// <summary>Extension: clock and timers of the connection loops.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
    /// <summary>Extension: where the listener and its connections log.</summary>
    public ILogger Logger { get; set; } = NullLogger.Instance;
}
