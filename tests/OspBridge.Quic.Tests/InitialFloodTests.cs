using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using OspBridge.Net.IO;
using OspBridge.Quic.Core;
using Xunit.Abstractions;

namespace OspBridge.Quic.Tests;

/// <summary>
/// Issue 9 item 1 against a real listener on loopback: Initials that do not decrypt cost no state and get no reply;
/// a legitimate client completes its handshake during a flood of junk and valid Initials while pending state stays
/// bounded; stateless resets are rate-limited.
/// </summary>
[Collection(nameof(InitialFloodTests))]
public sealed class InitialFloodTests(ITestOutputHelper output)
{
    private static readonly X509Certificate2 Cert = OspBridge.Crypto.Certificates.SelfSignedCertificate.CreateTlsServer("localhost");
    private static readonly SslApplicationProtocol Alpn = new("ospb-test");

    internal static ValueTask<QuicListener> Listen(TimeSpan handshakeTimeout, Action<QuicListenerOptions>? configure = null)
    {
        var o = new QuicListenerOptions
        {
            ListenEndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            ApplicationProtocols = [Alpn],
            ConnectionOptionsCallback = (_, _, _) => ValueTask.FromResult(new QuicServerConnectionOptions
            {
                DefaultCloseErrorCode = 0,
                DefaultStreamErrorCode = 0,
                HandshakeTimeout = handshakeTimeout,
                ServerAuthenticationOptions = new SslServerAuthenticationOptions { ServerCertificate = Cert, ApplicationProtocols = [Alpn] },
            }),
        };
        configure?.Invoke(o);
        return QuicListener.ListenAsync(o);
    }

    private static QuicClientConnectionOptions ClientOptions(IPEndPoint server) => new()
    {
        RemoteEndPoint = server,
        DefaultCloseErrorCode = 0,
        DefaultStreamErrorCode = 0,
        ClientAuthenticationOptions = new SslClientAuthenticationOptions
        {
            ApplicationProtocols = [Alpn],
            TargetHost = "localhost",
            RemoteCertificateValidationCallback = (_, c, _, _) => c is not null && c.GetRawCertData().AsSpan().SequenceEqual(Cert.RawData),
        },
    };

    [Fact]
    public async Task JunkInitials_CostNoStateAndGetNoReply()
    {
        const int Junk = 2000;
        await using var listener = await Listen(TimeSpan.FromSeconds(10));
        using var attacker = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        attacker.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var rng = new Random(9);
        for (int i = 0; i < Junk; i++)
        {
            attacker.SendTo(InitialCrafter.Junk(rng), listener.LocalEndPoint);
            if (i % 200 == 199) await Task.Delay(5); // stay under the socket buffer: every datagram must reach the listener
        }
        // one real Initial after the junk: once it is pending, the receive task has looked at every junk datagram
        var valid = InitialCrafter.Reencrypt(InitialCrafter.RealInitial(Alpn.ToString()), rng);
        attacker.SendTo(valid, listener.LocalEndPoint);
        var sw = Stopwatch.StartNew();
        while (listener.PendingCount == 0 && sw.Elapsed < TimeSpan.FromSeconds(20)) await Task.Delay(10);
        Assert.Equal(1, listener.PendingCount);
        Assert.Equal(1, listener.ConnectionsCreated);
        Assert.Equal(0, listener.RetriesSent);
        // replies came only for the valid Initial (its server Initial flight), none for the junk
        var replies = new HashSet<string>();
        var buf = new byte[2048];
        attacker.ReceiveTimeout = 1000;
        try
        {
            while (true)
            {
                attacker.Receive(buf);
                replies.Add(Convert.ToHexString(buf, 6, buf[5]));
            }
        }
        catch (SocketException) { }
        Assert.Single(replies);
    }

    [Fact]
    public async Task Flood_10000Junk_1000ValidInitials_LegitimateClientCompletesHandshake_PendingStateBounded()
    {
        const int Junk = 10_000, Valid = 1000, Sockets = 50;
        await using var listener = await Listen(TimeSpan.FromSeconds(10));
        var initial = InitialCrafter.RealInitial(Alpn.ToString());
        var rng = new Random(10);
        var datagrams = new List<byte[]>(Junk + Valid);
        for (int i = 0; i < Junk; i++) datagrams.Add(InitialCrafter.Junk(rng));
        for (int i = 0; i < Valid; i++) datagrams.Insert(rng.Next(datagrams.Count), InitialCrafter.Reencrypt(initial, rng));
        var attackers = Enumerable.Range(0, Sockets).Select(_ =>
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return s;
        }).ToArray();
        try
        {
            var before = ProcessFigures.Sample(fullGc: true);
            int maxPending = 0, maxThreads = before.Threads;
            using var stopSampling = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                while (!stopSampling.IsCancellationRequested)
                {
                    maxPending = Math.Max(maxPending, listener.PendingCount);
                    maxThreads = Math.Max(maxThreads, Process.GetCurrentProcess().Threads.Count);
                    try { await Task.Delay(5, stopSampling.Token); } catch (OperationCanceledException) { }
                }
            });
            var flood = Task.Run(async () =>
            {
                for (int i = 0; i < datagrams.Count; i++)
                {
                    attackers[i % Sockets].SendTo(datagrams[i], listener.LocalEndPoint);
                    if (i % 500 == 499) await Task.Delay(2);
                }
            });
            // the legitimate client starts while the flood is under way
            while (listener.PendingCount < 64 && !flood.IsCompleted) await Task.Delay(1);
            var sw = Stopwatch.StartNew();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var accept = AcceptOursAsync(listener, cts.Token);
            var client = await QuicConnection.ConnectAsync(ClientOptions(listener.LocalEndPoint), cts.Token);
            var handshake = sw.Elapsed;
            bool floodStillRunning = !flood.IsCompleted;
            await flood;
            var server = await accept.WaitAsync(cts.Token);
            Assert.Equal(client.LocalEndPoint.Port, server.RemoteEndPoint.Port);
            // the legitimate connection is not flood state: it goes before the heap is compared
            await client.DisposeAsync();
            await server.DisposeAsync();
            var during = ProcessFigures.Sample(fullGc: false);
            stopSampling.Cancel();
            await sampler;
            output.WriteLine($"handshake during the flood: {handshake.TotalMilliseconds:F0} ms (flood still running: {floodStillRunning}); " +
                $"pending max {maxPending}, created {listener.ConnectionsCreated}, retries {listener.RetriesSent}, dropped over cap {listener.DroppedOverCap}");
            output.WriteLine($"threads {before.Threads} -> max {maxThreads}; RSS {before.RssMiB:F1} MiB -> {during.RssMiB:F1} MiB");
            Assert.True(maxPending <= 256, $"pending {maxPending}");
            // valid Initials become pending only below the Retry threshold (128) — plus ours, admitted with its token
            Assert.True(listener.ConnectionsCreated <= 130, $"created {listener.ConnectionsCreated}");
            // junk got neither state nor a Retry: every Retry and connection answers one of the valid Initials (the
            // kernel may drop some of the flood when the socket buffer overflows, so fewer is fine) or our client
            Assert.InRange(listener.RetriesSent + listener.ConnectionsCreated, 129, Valid + 2);
            Assert.True(maxThreads < before.Threads + 40, $"threads {before.Threads} -> {maxThreads}");
            // the abandoned handshakes time out and their state goes
            sw.Restart();
            while (listener.PendingCount > 0 && sw.Elapsed < TimeSpan.FromSeconds(30)) await Task.Delay(50);
            Assert.Equal(0, listener.PendingCount);
            var after = ProcessFigures.Sample(fullGc: true);
            output.WriteLine($"after the handshakes timed out and a full GC: RSS {after.RssMiB:F1} MiB, managed {after.ManagedMiB:F1} MiB (before {before.ManagedMiB:F1}), threads {after.Threads}");
            // managed memory is what this test can attribute to the listener (RSS is shared with parallel tests and is
            // measured by the soak in bench/, see docs/security.md)
            Assert.True(after.ManagedMiB < before.ManagedMiB + 20, $"managed heap {before.ManagedMiB:F1} -> {after.ManagedMiB:F1} MiB");
        }
        finally
        {
            foreach (var s in attackers) s.Dispose();
        }
    }

    private static async Task<QuicConnection> AcceptOursAsync(QuicListener listener, CancellationToken ct) => await listener.AcceptConnectionAsync(ct);

    [Fact]
    public async Task StatelessResets_AreRateLimited()
    {
        const int Sent = 400;
        await using var listener = await Listen(TimeSpan.FromSeconds(10), o =>
        {
            o.StatelessResetsPerSecond = 20;
            o.StatelessResetBurst = 30;
        });
        using var attacker = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        attacker.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var rng = new Random(11);
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < Sent; i++)
        {
            var packet = new byte[100];
            rng.NextBytes(packet);
            packet[0] = (byte)(0x40 | (packet[0] & 0x3f)); // short header for a connection the listener does not know
            attacker.SendTo(packet, listener.LocalEndPoint);
        }
        var wait = Stopwatch.StartNew();
        while (listener.StatelessResetsSent + listener.StatelessResetsSuppressed < Sent && wait.Elapsed < TimeSpan.FromSeconds(20)) await Task.Delay(10);
        double elapsed = sw.Elapsed.TotalSeconds;
        Assert.Equal(Sent, listener.StatelessResetsSent + listener.StatelessResetsSuppressed);
        Assert.InRange(listener.StatelessResetsSent, 30, 30 + (long)Math.Ceiling(20 * elapsed));
        int received = 0;
        var buf = new byte[256];
        attacker.ReceiveTimeout = 500;
        try { while (true) { attacker.Receive(buf); received++; } }
        catch (SocketException) { }
        Assert.Equal(listener.StatelessResetsSent, received);
    }

    [Fact]
    public void TokenBucket_RefillsWithTime_UpToTheBurst()
    {
        var b = new TokenBucket(10, 5, TimeSpan.Zero);
        int taken = 0;
        while (b.TryTake(TimeSpan.Zero)) taken++;
        Assert.Equal(5, taken);
        Assert.False(b.TryTake(TimeSpan.FromMilliseconds(50))); // half a token
        Assert.True(b.TryTake(TimeSpan.FromMilliseconds(100)));
        Assert.False(b.TryTake(TimeSpan.FromMilliseconds(100)));
        taken = 0;
        while (b.TryTake(TimeSpan.FromSeconds(100))) taken++; // a long quiet spell refills only to the burst
        Assert.Equal(5, taken);
    }
}

/// <summary>
/// The flood tests compare the managed heap before and after; other test classes running beside them would add their
/// own buffers to it, so this collection runs alone.
/// </summary>
[CollectionDefinition(nameof(InitialFloodTests), DisableParallelization = true)]
public sealed class InitialFloodCollection;

/// <summary>Thread count, RSS and managed heap of this process.</summary>
internal readonly record struct ProcessFigures(int Threads, double RssMiB, double ManagedMiB)
{
    public static ProcessFigures Sample(bool fullGc)
    {
        if (fullGc)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        }
        using var p = Process.GetCurrentProcess();
        return new ProcessFigures(p.Threads.Count, p.WorkingSet64 / 1048576.0, GC.GetTotalMemory(false) / 1048576.0);
    }
}
