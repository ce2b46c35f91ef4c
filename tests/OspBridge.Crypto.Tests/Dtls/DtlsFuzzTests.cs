using System.Diagnostics;
using OspBridge.Crypto.Dtls;
using OspBridge.Crypto.Dtls.Messages;
using OspBridge.Testing;

namespace OspBridge.Crypto.Tests.Dtls;

/// <summary>
/// Mutation fuzzing (fixed seeds) of the record layer, the handshake fragment layer, every handshake message parser
/// and the endpoint state machine. Only <see cref="CryptoException"/> may escape, each input is bounded in time and
/// allocation, and garbage sent to a connected endpoint never disturbs it.
/// </summary>
public class DtlsFuzzTests(Xunit.Abstractions.ITestOutputHelper log)
{
    private static readonly Lazy<(List<byte[]> C2S, List<byte[]> S2C)> Captured = new(() =>
    {
        using var pair = new DtlsTestPair();
        Assert.True(pair.Handshake());
        pair.Client.Send("ping"u8);
        pair.Server.Send("pong"u8);
        pair.Flush();
        return (pair.ClientToServerDatagrams.ToList(), pair.ServerToClientDatagrams.ToList());
    });

    internal static byte[] Mutate(byte[] input, Random rng)
    {
        var b = new List<byte>(input);
        int ops = rng.Next(1, 5);
        for (int i = 0; i < ops; i++)
        {
            int pos = b.Count == 0 ? 0 : rng.Next(b.Count);
            switch (rng.Next(7))
            {
                case 0 when b.Count > 0: b[pos] ^= (byte)(1 << rng.Next(8)); break;
                case 1 when b.Count > 0: b[pos] = (byte)(rng.Next(4) switch { 0 => 0, 1 => 0xFF, 2 => 0x7F, _ => 0x80 }); break;
                case 2: b.RemoveRange(pos, b.Count - pos); break;
                case 3: b.InsertRange(pos, Enumerable.Range(0, rng.Next(1, 16)).Select(_ => (byte)rng.Next(256))); break;
                case 4 when b.Count > 4: { int len = rng.Next(1, Math.Min(64, b.Count - pos) + 1); b.InsertRange(pos, b.GetRange(pos, Math.Min(len, b.Count - pos))); break; }
                case 5 when b.Count > pos + 2: b[pos] = 0xFF; b[pos + 1] = 0xFF; b[pos + 2] = (byte)rng.Next(256); break;
                case 6 when b.Count > 0: b.RemoveAt(pos); break;
            }
        }
        return [.. b];
    }

    // One window per input: the actions feed stateful endpoints (not repeatable), and the limits (MiB per input) are
    // far above any one-off runtime allocation, so Allocations.LeastOf is not needed here.
    private static void Check(Action action, byte[] input, ref long maxAlloc, ref TimeSpan maxTime)
    {
        var sw = Stopwatch.StartNew();
        long allocated = Allocations.Of(() =>
        {
            try
            {
                action();
            }
            catch (CryptoException)
            {
            }
            catch (Exception ex)
            {
                Assert.Fail($"{ex.GetType().Name}: {ex.Message}\ninput {Convert.ToHexString(input)}\n{ex.StackTrace}");
            }
        });
        maxTime = sw.Elapsed > maxTime ? sw.Elapsed : maxTime;
        maxAlloc = Math.Max(maxAlloc, allocated);
    }

    [Fact]
    public void HandshakeMessageParsers_OnlyCryptoException_100kInputs()
    {
        var (c2s, s2c) = Captured.Value;
        var messages = DtlsBrowserHelloTests.ReassembleFlight(c2s.Take(1)).Concat(DtlsBrowserHelloTests.ReassembleFlight(s2c.Skip(1)))
            .Append((Type: TlsHandshakeType.ClientHello, Body: DtlsBrowserHelloTests.ChromeLikeClientHelloBody()))
            .Append((TlsHandshakeType.HelloVerifyRequest, new HelloVerifyRequest { Cookie = new byte[20] }.Serialize()))
            .ToList();
        Assert.Contains(messages, m => m.Item1 == TlsHandshakeType.ServerKeyExchange);
        var rng = new Random(1234);
        long maxAlloc = 0;
        var maxTime = TimeSpan.Zero;
        int n = 0;
        var total = Stopwatch.StartNew();
        for (int i = 0; i < 100_000; i++)
        {
            var (type, body) = messages[i % messages.Count];
            var input = Mutate(body, rng);
            Check(() => Parse(type, input), input, ref maxAlloc, ref maxTime);
            n++;
        }
        Assert.Equal(100_000, n);
        Assert.True(maxAlloc < 1 << 20, $"an input allocated {maxAlloc} bytes");
        Assert.True(maxTime < TimeSpan.FromSeconds(1), $"an input took {maxTime}");
        Assert.True(total.Elapsed < TimeSpan.FromSeconds(120), $"took {total.Elapsed}");
    }

    private static void Parse(byte type, byte[] body)
    {
        switch (type)
        {
            case TlsHandshakeType.ClientHello:
                var ch = ClientHello.Parse(body);
                foreach (var (t, d) in ch.Extensions)
                {
                    if (t is TlsExtensionType.SupportedGroups or TlsExtensionType.SignatureAlgorithms) TlsExtensions.ReadU16List(d, 2, 2);
                    if (t == TlsExtensionType.UseSrtp) UseSrtpExtension.Parse(d);
                }
                break;
            case TlsHandshakeType.ServerHello: ServerHello.Parse(body); break;
            case TlsHandshakeType.HelloVerifyRequest: HelloVerifyRequest.Parse(body); break;
            case TlsHandshakeType.Certificate: CertificateMessage.Parse(body); break;
            case TlsHandshakeType.ServerKeyExchange: ServerKeyExchange.Parse(body); break;
            case TlsHandshakeType.CertificateRequest: DtlsCertificateRequest.Parse(body); break;
            case TlsHandshakeType.ClientKeyExchange: ClientKeyExchange.Parse(body); break;
            case TlsHandshakeType.CertificateVerify: CertificateVerify.Parse(body); break;
            default: break;
        }
    }

    [Fact]
    public void FreshServer_MutatedClientDatagrams_OnlyCryptoException_20kInputs()
    {
        var (c2s, _) = Captured.Value;
        var seeds = c2s.Take(2).Append(DtlsBrowserHelloTests.Record(1, 0, DtlsBrowserHelloTests.ChromeLikeClientHelloBody(), 0, 1000, 0)).ToList();
        var rng = new Random(99);
        long maxAlloc = 0;
        var maxTime = TimeSpan.Zero;
        var opts = new DtlsOptions { Certificate = DtlsTestPair.ServerCert, AllowAnyPeerCertificate = true };
        for (int i = 0; i < 20_000; i++)
        {
            var input = Mutate(seeds[i % seeds.Count], rng);
            using var server = new DtlsEndpoint(opts);
            Check(() =>
            {
                server.Receive(input, TimeSpan.Zero);
                while (server.TryPollDatagram(out _)) { }
            }, input, ref maxAlloc, ref maxTime);
        }
        Assert.True(maxAlloc < 4 << 20, $"an input allocated {maxAlloc} bytes");
        Assert.True(maxTime < TimeSpan.FromSeconds(1), $"an input took {maxTime}");
    }

    [Fact]
    public void ConnectedEndpoints_GarbageAndMutatedRecords_NeverThrowNorDisconnect_20kInputs()
    {
        var (c2s, s2c) = Captured.Value;
        using var pair = new DtlsTestPair();
        Assert.True(pair.Handshake());
        var seeds = c2s.Concat(s2c).ToList();
        var rng = new Random(7);
        for (int i = 0; i < 20_000; i++)
        {
            var input = rng.Next(10) == 0 ? RandomBytes(rng) : Mutate(seeds[i % seeds.Count], rng);
            var target = (i & 1) == 0 ? pair.Client : pair.Server;
            target.Receive(input, pair.Now); // must not throw: unauthenticated input cannot hurt a connection
            while (target.TryReadApplicationData(out _)) { }
        }
        Assert.Equal(DtlsState.Connected, pair.Client.State);
        Assert.Equal(DtlsState.Connected, pair.Server.State);
        while (pair.Client.TryPollDatagram(out _)) { }
        while (pair.Server.TryPollDatagram(out _)) { }
        pair.Client.Send("still alive"u8);
        pair.Run(() => false, TimeSpan.FromSeconds(1));
        Assert.True(pair.Server.TryReadApplicationData(out var got));
        Assert.Equal("still alive"u8.ToArray(), got.ToArray());
    }

    private static byte[] RandomBytes(Random rng)
    {
        var b = new byte[rng.Next(0, 200)];
        rng.NextBytes(b);
        if (b.Length > 0 && rng.Next(2) == 0) b[0] = (byte)rng.Next(20, 24);
        return b;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void MutatingMiddlebox_FullHandshakes_OnlyCryptoException_300Runs(bool mutateServerFlights)
    {
        long maxAlloc = 0;
        var maxTime = TimeSpan.Zero;
        int failed = 0, connected = 0;
        var reasons = new Dictionary<string, int>();
        for (int run = 0; run < 300; run++)
        {
            var rng = new Random(run);
            int victim = rng.Next(0, 8);
            int count = 0;
            using var pair = new DtlsTestPair(client: o => DtlsHandshakeTests.Clone(o, maxRetx: 3), server: o => DtlsHandshakeTests.Clone(o, maxRetx: 3));
            Func<byte[], IEnumerable<byte[]>> transform = d => count++ == victim ? [Mutate(d, rng), d] : [d];
            if (mutateServerFlights) pair.ToClientTransform = transform;
            else pair.ToServerTransform = transform;
            var input = Array.Empty<byte>();
            Check(() =>
            {
                pair.Run(() => pair.Client.State is DtlsState.Connected or DtlsState.Failed && pair.Server.State is DtlsState.Connected or DtlsState.Failed,
                    TimeSpan.FromSeconds(30), throwOnFailure: true);
            }, input, ref maxAlloc, ref maxTime);
            if (pair.Client.State == DtlsState.Connected && pair.Server.State == DtlsState.Connected) connected++;
            else
            {
                failed++;
                var why = (pair.Server.Error ?? pair.Client.Error)?.Message ?? $"{pair.Client.State}/{pair.Server.State}";
                reasons[why] = reasons.GetValueOrDefault(why) + 1;
            }
        }
        log.WriteLine($"connected {connected}, failed {failed}: " + string.Join("; ", reasons.OrderByDescending(r => r.Value).Select(r => $"{r.Value}× {r.Key}")));
        Assert.True(connected > 0 && connected + failed == 300);
        Assert.True(maxTime < TimeSpan.FromSeconds(5), $"a run took {maxTime}");
    }
}
