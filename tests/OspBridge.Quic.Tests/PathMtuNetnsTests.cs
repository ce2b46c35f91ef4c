using System.Net;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OspBridge.Crypto.Certificates;
using OspBridge.Testing.Netns;

namespace OspBridge.Quic.Tests;

/// <summary>
/// Path MTU discovery over a real link: two network namespaces joined by veths with the usual 1500-byte MTU. The
/// 16 KiB probe (DF set) is refused, the search bisects down, and the connection settles at or below 1472 bytes
/// (IPv4: 1500 − 20 − 8) without losing data.
/// </summary>
public sealed class PathMtuNetnsTests
{
    private static readonly SslApplicationProtocol Alpn = new("ospb-test");

    [Fact]
    public async Task AcrossA1500ByteVeth_TheSizeSettlesWithinThePath_DataIntact()
    {
        using var guard = ExternalTrafficGuard.Start();
        await using var lan = await NetnsLan.CreateAsync(2);
        NetnsHost a = lan.Hosts[0], b = lan.Hosts[1];
        using var fa = a.CreateSocketFactory();
        using var fb = b.CreateSocketFactory();
        using var cert = SelfSignedCertificate.CreateTlsServer("localhost");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var listener = await QuicListener.ListenAsync(new QuicListenerOptions
        {
            ListenEndPoint = new IPEndPoint(b.IPv4, 0),
            ApplicationProtocols = [Alpn],
            SocketFactory = fb,
            ConnectionOptionsCallback = (_, _, _) => ValueTask.FromResult(new QuicServerConnectionOptions
            {
                DefaultCloseErrorCode = 0,
                DefaultStreamErrorCode = 0,
                ServerAuthenticationOptions = new SslServerAuthenticationOptions { ServerCertificate = cert, ApplicationProtocols = [Alpn] },
            }),
        });
        var data = RandomNumberGenerator.GetBytes(8 << 20);
        var server = Task.Run(async () =>
        {
            await using var conn = await listener.AcceptConnectionAsync(cts.Token);
            await using var s = await conn.AcceptInboundStreamAsync(cts.Token);
            var got = new MemoryStream();
            var buf = new byte[65536];
            int n;
            while ((n = await s.ReadAsync(buf, cts.Token)) > 0) got.Write(buf, 0, n);
            s.CompleteWrites();
            return got.ToArray();
        });
        await using var client = await QuicConnection.ConnectAsync(new QuicClientConnectionOptions
        {
            RemoteEndPoint = listener.LocalEndPoint,
            LocalEndPoint = new IPEndPoint(a.IPv4, 0),
            SocketFactory = fa,
            DefaultCloseErrorCode = 0,
            DefaultStreamErrorCode = 0,
            ClientAuthenticationOptions = new SslClientAuthenticationOptions
            {
                ApplicationProtocols = [Alpn],
                TargetHost = "localhost",
                RemoteCertificateValidationCallback = (_, c, _, _) => c is not null && c.GetRawCertData().AsSpan().SequenceEqual(cert.RawData),
            },
        }, cts.Token);
        await using (var stream = await client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, cts.Token))
        {
            await stream.WriteAsync(data, completeWrites: true, cts.Token);
            var received = await server.WaitAsync(cts.Token);
            Assert.Equal(SHA256.HashData(data), SHA256.HashData(received));
        }
        var core = client.Core; // read after the transfer; the fields only change on the loop
        Assert.InRange(core.CurrentMaxDatagramSize, 1452, 1472);
        Assert.True(core.Counters.MtuProbesLost >= Transport.PathMtuSearch.MaxProbes, $"probes lost {core.Counters.MtuProbesLost}, acked {core.Counters.MtuProbesAcked}");
        // (that lost probes are no congestion signal is asserted in virtual time, PathMtuTests: a real veth may also
        // drop for other reasons — a full socket buffer on a loaded machine)
    }
}
