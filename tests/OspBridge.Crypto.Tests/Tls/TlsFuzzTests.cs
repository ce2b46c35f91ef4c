using System.Diagnostics;
using OspBridge.Crypto;
using OspBridge.Crypto.Tls;
using OspBridge.Testing;

namespace OspBridge.Crypto.Tests.Tls;

/// <summary>Mutation fuzz of the handshake parsers and engines: only CryptoException may escape; bounded time and allocation.</summary>
public class TlsFuzzTests
{
    internal static byte[] Mutate(Random rng, byte[] seed)
    {
        var b = new List<byte>(seed);
        int ops = 1 + rng.Next(4);
        for (int i = 0; i < ops; i++)
        {
            if (b.Count == 0) { b.Add((byte)rng.Next(256)); continue; }
            int p = rng.Next(b.Count);
            switch (rng.Next(8))
            {
                case 0: b[p] ^= (byte)(1 << rng.Next(8)); break;
                case 1: b[p] = (byte)rng.Next(256); break;
                case 2: b[p] = rng.Next(2) == 0 ? (byte)0 : (byte)0xFF; break;
                case 3: b.RemoveRange(p, Math.Min(b.Count - p, 1 + rng.Next(8))); break;
                case 4: b.InsertRange(p, Enumerable.Range(0, 1 + rng.Next(8)).Select(_ => (byte)rng.Next(256))); break;
                case 5: b.RemoveRange(p, b.Count - p); break; // truncate
                case 6:
                {
                    int len = Math.Min(b.Count - p, 1 + rng.Next(16));
                    var chunk = b.GetRange(p, len);
                    b.InsertRange(rng.Next(b.Count), chunk);
                    break;
                }
                default: b[p] = (byte)(b[p] + rng.Next(-2, 3)); break; // off-by-one lengths
            }
        }
        return [.. b];
    }

    private static byte[] ClientHelloBytes()
    {
        var client = QuicTls.Create(new QuicTlsOptions
        {
            IsClient = true, ServerName = "fuzz.example", ApplicationProtocols = ["h3", "osp"], LocalTransportParameters = new byte[] { 1, 2, 3, 4 },
        });
        client.Start();
        client.TryGetOutput(out var o);
        return o.Data.ToArray();
    }

    /// <summary>A complete server flight (ServerHello; EE..Finished) with a CertificateRequest, for the client-side fuzz.</summary>
    private static (byte[] ch, byte[] sh, byte[] flight) Flights()
    {
        var pair = new TlsPair(TlsPair.ClientOptions(), new QuicTlsOptions
        {
            Certificate = TestCerts.Server, ApplicationProtocols = ["h3"], LocalTransportParameters = new byte[] { 5 }, RequireClientCertificate = true,
        });
        pair.Client.Start();
        pair.Client.TryGetOutput(out var ch);
        pair.Server.ProcessCryptoData(TlsEncryptionLevel.Initial, ch.Data.Span);
        byte[] sh = [], flight = [];
        while (pair.Server.TryGetOutput(out var o))
            if (o.Kind == TlsOutputKind.CryptoData)
            {
                if (o.Level == TlsEncryptionLevel.Initial) sh = o.Data.ToArray(); else flight = o.Data.ToArray();
            }
        return (ch.Data.ToArray(), sh, flight);
    }

    [Fact]
    public void Message_parsers_survive_120k_mutations()
    {
        var (ch, sh, flight) = Flights();
        var seeds = new List<(byte type, byte[] body)>();
        void AddMessages(byte[] bytes)
        {
            for (int p = 0; p + 4 <= bytes.Length;)
            {
                int len = (bytes[p + 1] << 16) | (bytes[p + 2] << 8) | bytes[p + 3];
                seeds.Add((bytes[p], bytes.AsSpan(p + 4, len).ToArray()));
                p += 4 + len;
            }
        }
        AddMessages(ch);
        AddMessages(sh);
        AddMessages(flight);
        AddMessages(Rfc8448Tests.ClientHelloMsg);
        AddMessages(ClientHelloBytes());
        seeds.Add((TlsHandshakeType.NewSessionTicket, [0, 0, 0, 17, 0, 0, 0, 60, 1, 2, 3, 4, 1, 0xAA, 0, 3, 1, 2, 3, 0, 0]));
        Assert.Contains(seeds, s => s.type == TlsHandshakeType.CertificateRequest);
        Assert.Contains(seeds, s => s.type == TlsHandshakeType.CertificateVerify);

        var rng = new Random(20261121);
        var sw = Stopwatch.StartNew();
        int accepted = 0, rejected = 0;
        const int N = 120_000;
        // Windows of N inputs (the next window mutates afresh), the least counted; one normally suffices.
        long perInput = Allocations.LeastOf(3, () =>
        {
            accepted = rejected = 0;
            for (int i = 0; i < N; i++)
            {
                var (type, body) = seeds[i % seeds.Count];
                byte[] m = Mutate(rng, body);
                try
                {
                    switch (type)
                    {
                        case TlsHandshakeType.ClientHello: ClientHello.Parse(m); break;
                        case TlsHandshakeType.ServerHello: ServerHello.Parse(m); break;
                        case TlsHandshakeType.EncryptedExtensions: EncryptedExtensions.Parse(m, true, true); break;
                        case TlsHandshakeType.CertificateRequest: CertificateRequestMessage.Parse(m); break;
                        case TlsHandshakeType.Certificate: CertificateMessage.Parse(m); break;
                        case TlsHandshakeType.CertificateVerify: CertificateVerifyMessage.Parse(m); break;
                        case TlsHandshakeType.NewSessionTicket: NewSessionTicketMessage.Validate(m); break;
                        default: continue;
                    }
                    accepted++;
                }
                catch (CryptoException e)
                {
                    Assert.NotEqual(0, e.Alert);
                    rejected++;
                }
                Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), "parser fuzz took too long");
            }
        }, enough: 64L * 1024 * N - 1) / N;
        Assert.True(perInput < 64 * 1024, $"parser allocated {perInput} B per input");
        Assert.True(accepted > 1000 && rejected > 10_000, $"accepted {accepted}, rejected {rejected}");
    }

    [Fact]
    public void Server_engine_survives_mutated_client_hellos_in_random_pieces()
    {
        byte[] ch = ClientHelloBytes();
        var rng = new Random(7);
        var sw = Stopwatch.StartNew();
        int completed = 0, rejected = 0;
        for (int i = 0; i < 2500; i++)
        {
            byte[] m = Mutate(rng, ch);
            var server = QuicTls.Create(TlsPair.ServerOptions("h3", "osp"));
            try
            {
                int p = 0;
                while (p < m.Length)
                {
                    int n = Math.Min(m.Length - p, 1 + rng.Next(600));
                    server.ProcessCryptoData(TlsEncryptionLevel.Initial, m.AsSpan(p, n));
                    p += n;
                }
                if (server.TryGetOutput(out _)) completed++;
            }
            catch (CryptoException e)
            {
                Assert.NotEqual(0, e.Alert);
                rejected++;
            }
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), "server fuzz took too long");
        }
        Assert.True(completed > 100 && rejected > 500, $"completed {completed}, rejected {rejected}");
    }

    [Fact]
    public void Client_engine_survives_mutated_server_flights()
    {
        var (_, sh, flight) = Flights();
        var rng = new Random(99);
        var sw = Stopwatch.StartNew();
        int rejected = 0, survived = 0;
        for (int i = 0; i < 1500; i++)
        {
            // The client's random/share differs from the one the flight was made for, so signatures and Finished
            // fail late; mutations exercise every parser and state on the way.
            var client = QuicTls.Create(TlsPair.ClientOptions());
            client.Start();
            bool mutateHello = rng.Next(3) == 0;
            byte[] s = mutateHello ? Mutate(rng, sh) : sh;
            byte[] f = mutateHello ? flight : Mutate(rng, flight);
            try
            {
                client.ProcessCryptoData(TlsEncryptionLevel.Initial, s);
                client.ProcessCryptoData(TlsEncryptionLevel.Handshake, f);
                survived++;
            }
            catch (CryptoException e)
            {
                Assert.NotEqual(0, e.Alert);
                rejected++;
            }
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60), "client fuzz took too long");
        }
        Assert.True(rejected > 1000, $"rejected {rejected}, survived {survived}");
    }

    [Fact]
    public void Random_garbage_at_every_level_only_raises_crypto_exceptions()
    {
        var rng = new Random(3);
        for (int i = 0; i < 5000; i++)
        {
            var e = QuicTls.Create(i % 2 == 0 ? TlsPair.ServerOptions() : TlsPair.ClientOptions());
            if (i % 2 == 1) e.Start();
            var junk = new byte[rng.Next(0, 300)];
            rng.NextBytes(junk);
            if (junk.Length > 0 && rng.Next(2) == 0) junk[0] = (byte)rng.Next(0, 25);
            try
            {
                e.ProcessCryptoData((TlsEncryptionLevel)new[] { 0, 2, 3 }[rng.Next(3)], junk);
            }
            catch (CryptoException ex)
            {
                Assert.NotEqual(0, ex.Alert);
            }
        }
    }
}
