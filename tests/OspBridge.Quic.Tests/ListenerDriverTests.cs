using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using OspBridge.Net.IO;

namespace OspBridge.Quic.Tests;

/// <summary>The listener driver: pending handshakes are capped and cost no thread; the socket comes from the factory.</summary>
public class ListenerDriverTests
{
    private static readonly X509Certificate2 Cert = OspBridge.Crypto.Certificates.SelfSignedCertificate.CreateTlsServer("localhost");
    private static readonly SslApplicationProtocol Alpn = new("ospb-test");

    private static ValueTask<QuicListener> Listen(int maxPending, TimeSpan handshakeTimeout, IDatagramSocketFactory? factory = null, int retryAbove = int.MaxValue)
        => QuicListener.ListenAsync(new QuicListenerOptions
        {
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            ApplicationProtocols = [Alpn],
            MaxPendingConnections = maxPending,
            RetryAbovePendingConnections = retryAbove,
            SocketFactory = factory ?? UdpSocketFactory.Default,
            ConnectionOptionsCallback = (_, _, _) => ValueTask.FromResult(new QuicServerConnectionOptions
            {
                DefaultCloseErrorCode = 0,
                DefaultStreamErrorCode = 0,
                HandshakeTimeout = handshakeTimeout,
                ServerAuthenticationOptions = new SslServerAuthenticationOptions { ServerCertificate = Cert, ApplicationProtocols = [Alpn] },
            }),
        });

    private static QuicClientConnectionOptions ClientOptions(IPEndPoint server, IDatagramSocketFactory factory) => new()
    {
        RemoteEndPoint = server,
        DefaultCloseErrorCode = 0,
        DefaultStreamErrorCode = 0,
        SocketFactory = factory,
        ClientAuthenticationOptions = new SslClientAuthenticationOptions
        {
            ApplicationProtocols = [Alpn],
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, c, _, _) => c is not null && c.GetRawCertData().AsSpan().SequenceEqual(Cert.RawData),
        },
    };

    private static async Task<bool> WaitFor(Func<bool> condition, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > timeout) return false;
            await Task.Delay(10);
        }
        return true;
    }

    [Fact]
    public async Task PendingHandshakes_AreCapped_ExtraInitialsDropped_AndCapacityReturnsWhenTheyTimeOut()
    {
        const int Cap = 40, Sent = 48;
        await using var listener = await Listen(maxPending: Cap, handshakeTimeout: TimeSpan.FromSeconds(3));
        using var attacker = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        attacker.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        int threadsBefore = Process.GetCurrentProcess().Threads.Count;
        var initials = Enumerable.Range(0, Sent).Select(_ => InitialCrafter.RealInitial(Alpn.ToString())).ToList();
        foreach (var initial in initials) attacker.SendTo(initial, listener.LocalEndPoint);
        Assert.True(await WaitFor(() => listener.PendingCount + listener.DroppedOverCap == Sent, TimeSpan.FromSeconds(20)),
            $"pending {listener.PendingCount}, dropped {listener.DroppedOverCap}");
        Assert.Equal(Cap, listener.PendingCount);
        Assert.Equal(Sent - Cap, listener.DroppedOverCap);
        // the server answered exactly the three it accepted (its Initial flight goes to the attacker's address)
        var answered = new HashSet<string>();
        var buf = new byte[2048];
        attacker.ReceiveTimeout = 1000;
        try
        {
            while (true)
            {
                int n = attacker.Receive(buf);
                // long header: DCID of the server's packets = the SCID the client chose
                int dl = buf[5];
                answered.Add(Convert.ToHexString(buf, 6, dl));
            }
        }
        catch (SocketException) { }
        Assert.Equal(Cap, answered.Count);
        // pending handshakes cost no thread of their own (a thread per connection would add 40)
        Assert.True(Process.GetCurrentProcess().Threads.Count < threadsBefore + Cap / 2, $"threads {threadsBefore} -> {Process.GetCurrentProcess().Threads.Count}");
        // they time out (core handshake timer), and the capacity comes back: a real client gets in
        Assert.True(await WaitFor(() => listener.PendingCount == 0, TimeSpan.FromSeconds(20)), $"pending {listener.PendingCount}");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var accept = listener.AcceptConnectionAsync(cts.Token).AsTask();
        await using var client = await QuicConnection.ConnectAsync(ClientOptions(listener.LocalEndPoint, UdpSocketFactory.Default), cts.Token);
        await using var server = await accept;
        Assert.Equal(client.LocalEndPoint.Port, server.RemoteEndPoint.Port);
    }

    [Fact]
    public async Task UnderLoad_NewClientsGetRetry_AndStillConnect()
    {
        await using var listener = await Listen(maxPending: 40, handshakeTimeout: TimeSpan.FromSeconds(30), retryAbove: 10);
        using var attacker = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        attacker.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var initials = Enumerable.Range(0, 20).Select(_ => InitialCrafter.RealInitial(Alpn.ToString())).ToList();
        foreach (var initial in initials) attacker.SendTo(initial, listener.LocalEndPoint);
        Assert.True(await WaitFor(() => listener.PendingCount + listener.RetriesSent == 20, TimeSpan.FromSeconds(20)),
            $"pending {listener.PendingCount}, retries {listener.RetriesSent}");
        Assert.Equal(10, listener.PendingCount);
        Assert.Equal(10, listener.RetriesSent);
        Assert.Equal(0, listener.DroppedOverCap);
        int retries = 0;
        var buf = new byte[2048];
        attacker.ReceiveTimeout = 1000;
        try
        {
            while (true)
            {
                attacker.Receive(buf);
                if ((buf[0] & 0xf0) == 0xf0) retries++; // long header, type Retry
            }
        }
        catch (SocketException) { }
        Assert.Equal(10, retries);
        // a real client answers the Retry and gets in; its connection is address-validated by the token
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var accept = listener.AcceptConnectionAsync(cts.Token).AsTask();
        await using var client = await QuicConnection.ConnectAsync(ClientOptions(listener.LocalEndPoint, UdpSocketFactory.Default), cts.Token);
        await using var server = await accept;
        Assert.True(listener.RetriesSent >= 11, $"retries {listener.RetriesSent}");
        Assert.NotNull(server.Core.LocalParameters.RetrySourceConnectionId);
    }

    private sealed class CountingFactory : IDatagramSocketFactory
    {
        public int Opened;
        public IDatagramSocket Open(UdpSocketOptions options)
        {
            Interlocked.Increment(ref Opened);
            return UdpSocketFactory.Default.Open(options);
        }
    }

    [Fact]
    public async Task Sockets_ComeFromTheConfiguredFactory()
    {
        var factory = new CountingFactory();
        await using var listener = await Listen(maxPending: 16, handshakeTimeout: TimeSpan.FromSeconds(10), factory);
        Assert.Equal(1, factory.Opened);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var accept = listener.AcceptConnectionAsync(cts.Token).AsTask();
        await using var client = await QuicConnection.ConnectAsync(ClientOptions(listener.LocalEndPoint, factory), cts.Token);
        await using var server = await accept;
        Assert.Equal(2, factory.Opened);
        await using var s = await client.OpenOutboundStreamAsync(QuicStreamType.Bidirectional, cts.Token);
        await s.WriteAsync("ping"u8.ToArray(), completeWrites: true, cts.Token);
        await using var r = await server.AcceptInboundStreamAsync(cts.Token);
        var buf = new byte[16];
        int total = 0, n;
        while ((n = await r.ReadAsync(buf.AsMemory(total), cts.Token)) > 0) total += n;
        Assert.Equal("ping"u8.ToArray(), buf[..total]);
    }
}
