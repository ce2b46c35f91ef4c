using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OspBridge.Crypto.Tls;
using OspBridge.Crypto.Certificates;

namespace OspBridge.Quic.Tests;

#pragma warning disable CA1416 // CipherSuitesPolicy: Linux test machine

/// <summary>The public API over real UDP sockets on 127.0.0.1 with the real TLS 1.3 engine.</summary>
public class LoopbackApiTests
{
    private static readonly X509Certificate2 Cert = SelfSignedCertificate.CreateTlsServer("localhost");
    private static readonly SslApplicationProtocol Alpn = new("ospb-test");

    internal static async Task<QuicListener> Listen(bool retry = false, int cidLength = 8, int maxDatagram = 0, int maxUdpPayload = QuicConnectionOptions.MaxSupportedUdpPayloadSize)
        => await QuicListener.ListenAsync(new QuicListenerOptions
        {
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            ApplicationProtocols = [Alpn],
            UseRetry = retry,
            ConnectionOptionsCallback = (_, _, _) => ValueTask.FromResult(new QuicServerConnectionOptions
            {
                DefaultCloseErrorCode = 0,
                DefaultStreamErrorCode = 0,
                ConnectionIdLength = cidLength,
                MaxDatagramFrameSize = maxDatagram,
                MaxUdpPayloadSize = maxUdpPayload,
                ServerAuthenticationOptions = new SslServerAuthenticationOptions { ServerCertificate = Cert, ApplicationProtocols = [Alpn] },
            }),
        });

    internal static ValueTask<QuicConnection> Connect(IPEndPoint server, int cidLength = 8, int maxDatagram = 0, CipherSuitesPolicy? policy = null, int maxUdpPayload = QuicConnectionOptions.MaxSupportedUdpPayloadSize)
        => QuicConnection.ConnectAsync(new QuicClientConnectionOptions
        {
            RemoteEndPoint = server,
            DefaultCloseErrorCode = 0,
            DefaultStreamErrorCode = 0,
            ConnectionIdLength = cidLength,
            MaxDatagramFrameSize = maxDatagram,
            MaxUdpPayloadSize = maxUdpPayload,
            ClientAuthenticationOptions = new SslClientAuthenticationOptions
            {
                ApplicationProtocols = [Alpn],
                TargetHost = "localhost",
                CipherSuitesPolicy = policy,
                // pin the exact certificate, as OSP pins SPKI fingerprints
                RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && cert.GetRawCertData().AsSpan().SequenceEqual(Cert.RawData),
            },
        });

    private static async Task Echo(QuicListener listener, CancellationToken ct)
    {
        await using var conn = await listener.AcceptConnectionAsync(ct);
        await using var stream = await conn.AcceptInboundStreamAsync(ct);
        var buf = new byte[65536];
        int n;
        while ((n = await stream.ReadAsync(buf, ct)) > 0) await stream.WriteAsync(buf.AsMemory(0, n), ct);
        stream.CompleteWrites();
        await stream.WritesClosed.WaitAsync(ct);
        await conn.CloseAsync(0, ct);
    }

    private static async Task RoundTrip(QuicListener listener, int size, int cidLength = 8, CipherSuitesPolicy? policy = null, Action<QuicConnection>? after = null)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var server = Echo(listener, cts.Token);
        await using var client = await Connect(listener.LocalEndPoint, cidLength, policy: policy);
        Assert.Equal(Alpn, client.NegotiatedApplicationProtocol);
        Assert.Equal(Cert.RawData, client.RemoteCertificate!.GetRawCertData());
        await using var stream = await client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, cts.Token);
        var data = RandomNumberGenerator.GetBytes(size);
        var writer = Task.Run(async () => await stream.WriteAsync(data, completeWrites: true, cts.Token));
        var received = new MemoryStream();
        var buf = new byte[65536];
        int n;
        while ((n = await stream.ReadAsync(buf, cts.Token)) > 0) received.Write(buf, 0, n);
        await writer;
        Assert.Equal(SHA256.HashData(data), SHA256.HashData(received.ToArray()));
        after?.Invoke(client);
        await server;
    }

    [Fact]
    public async Task Echo_1MB_OverLoopback()
    {
        await using var listener = await Listen();
        await RoundTrip(listener, 1 << 20);
    }

    [Fact]
    public async Task Bulk_OverLoopback_PathMtuDiscoveryReaches16K_WithoutLoss()
    {
        // loopback's MTU is 64 KiB: the first probe (16 384 bytes, DF set) is acknowledged and the data moves to it
        await using var listener = await Listen();
        await RoundTrip(listener, 8 << 20, after: client =>
        {
            var core = client.Core; // read after the transfer; the fields only change on the loop
            Assert.Equal(QuicConnectionOptions.MaxSupportedUdpPayloadSize, core.CurrentMaxDatagramSize);
            Assert.True(core.Counters.MtuProbesAcked >= 1 && core.Counters.MtuProbesLost == 0, $"probes acked {core.Counters.MtuProbesAcked} lost {core.Counters.MtuProbesLost}");
        });
    }

    [Fact]
    public async Task Ours_to_ours_negotiates_AEGIS_128L_and_echoes_8_MB_exactly()
    {
        Assert.True(Driver.TlsMapping.AegisOffered, "AEGIS-128L is not offered: OSPBRIDGE_QUIC_AEGIS=0 is set or the CPU lacks AES-NI");
        await using var listener = await Listen();
        await RoundTrip(listener, 8 << 20, after: client =>
        {
            Assert.Equal(Driver.TlsMapping.TlsAegis128LSha256, client.NegotiatedCipherSuite);
            Assert.Equal(OspBridge.Crypto.Tls.Tls13CipherSuite.Aegis128LSha256, client.Core.Tls.CipherSuite);
            // the echo came back through the gathered seal and the decrypt-into-place receive, both on AEGIS-128L
            Assert.True(client.Core.Counters.StreamBytesPlaced > 4 << 20, $"placed {client.Core.Counters.StreamBytesPlaced}");
        });
    }

    [Fact]
    public async Task A_client_that_allows_only_AES_128_GCM_gets_it_from_our_server()
    {
        await using var listener = await Listen();
        await RoundTrip(listener, 1 << 20, policy: new CipherSuitesPolicy([System.Net.Security.TlsCipherSuite.TLS_AES_128_GCM_SHA256]),
            after: client => Assert.Equal(System.Net.Security.TlsCipherSuite.TLS_AES_128_GCM_SHA256, client.NegotiatedCipherSuite));
    }

    [Fact]
    public async Task Echo_WithRetry_And_ZeroLengthConnectionIds_ChaCha20()
    {
        await using var listener = await Listen(retry: true, cidLength: 0);
        await RoundTrip(listener, 200_000, cidLength: 0, policy: new CipherSuitesPolicy([System.Net.Security.TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256]));
    }

    [Fact]
    public async Task Datagrams_RoundTrip()
    {
        await using var listener = await Listen(maxDatagram: 1200);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var accept = listener.AcceptConnectionAsync(cts.Token).AsTask();
        await using var client = await Connect(listener.LocalEndPoint, maxDatagram: 1200);
        await using var server = await accept;
        Assert.True(client.MaxDatagramSize > 1000);
        var got = server.ReceiveDatagramAsync(cts.Token).AsTask();
        for (int i = 0; i < 50 && !got.IsCompleted; i++)
        {
            Assert.True(client.SendDatagram("hello datagram"u8));
            await Task.WhenAny(got, Task.Delay(100, cts.Token));
        }
        Assert.Equal("hello datagram"u8.ToArray(), await got);
    }

    [Fact]
    public async Task Close_WithApplicationCode_IsSeenByPeer()
    {
        await using var listener = await Listen();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var accept = listener.AcceptConnectionAsync(cts.Token).AsTask();
        await using var client = await Connect(listener.LocalEndPoint);
        await using var server = await accept;
        var pending = server.AcceptInboundStreamAsync(cts.Token).AsTask();
        await client.CloseAsync(42, cts.Token);
        var ex = await Assert.ThrowsAsync<QuicException>(() => pending);
        Assert.Equal(QuicError.ConnectionAborted, ex.QuicError);
        Assert.Equal(42, ex.ApplicationErrorCode);
    }
}
