using System.Security.Cryptography.X509Certificates;
using OspBridge.Crypto;
using OspBridge.Crypto.Tls;
using OspBridge.Crypto.Certificates;

namespace OspBridge.Crypto.Tests.Tls;

/// <summary>Shared certificates (creating keys is slow-ish; reuse them).</summary>
internal static class TestCerts
{
    public static readonly X509Certificate2 Server = SelfSignedCertificate.CreateTlsServer("server.test");
    public static readonly X509Certificate2 Client = SelfSignedCertificate.CreateTlsServer("client.test");
}

/// <summary>
/// Plays the QUIC side for two engines in memory: drains outputs in order, checks that a write secret
/// precedes CRYPTO data at its level and that both sides derive matching secrets, and delivers bytes
/// (optionally in chunks of a given size).
/// </summary>
internal sealed class TlsPair
{
    public readonly IQuicTlsHandshake Client;
    public readonly IQuicTlsHandshake Server;
    public readonly Dictionary<(bool client, TlsEncryptionLevel level, bool write), byte[]> Secrets = new();
    public readonly List<(bool fromClient, TlsEncryptionLevel level, byte[] data)> Flights = new();
    public int ClientCompleteEvents, ServerCompleteEvents;
    public Func<bool, TlsEncryptionLevel, byte[], byte[]>? Tamper;
    public int ChunkSize = int.MaxValue;

    public TlsPair(QuicTlsOptions client, QuicTlsOptions server)
    {
        Client = QuicTls.Create(client);
        Server = QuicTls.Create(server);
    }

    public TlsPair(IQuicTlsHandshake client, IQuicTlsHandshake server)
    {
        Client = client;
        Server = server;
    }

    public static QuicTlsOptions ClientOptions(params string[] alpn) => new()
    {
        IsClient = true,
        ServerName = "server.test",
        ApplicationProtocols = alpn.Length == 0 ? ["h3"] : alpn,
        LocalTransportParameters = new byte[] { 1, 2, 3 },
    };

    public static QuicTlsOptions ServerOptions(params string[] alpn) => new()
    {
        Certificate = TestCerts.Server,
        ApplicationProtocols = alpn.Length == 0 ? ["h3"] : alpn,
        LocalTransportParameters = new byte[] { 9, 8, 7, 6 },
    };

    /// <summary>Runs the handshake to completion (bounded rounds).</summary>
    public void Run()
    {
        Client.Start();
        Server.Start();
        for (int round = 0; round < 20; round++)
        {
            bool moved = Pump(Client, Server, true) | Pump(Server, Client, false);
            if (!moved) break;
        }
    }

    private bool Pump(IQuicTlsHandshake from, IQuicTlsHandshake to, bool fromClient)
    {
        bool any = false;
        var pending = new List<(TlsEncryptionLevel, byte[])>();
        while (from.TryGetOutput(out var o))
        {
            any = true;
            switch (o.Kind)
            {
                case TlsOutputKind.Secret:
                    Assert.False(Secrets.ContainsKey((fromClient, o.Level, o.IsWrite)), "secret installed twice");
                    Secrets[(fromClient, o.Level, o.IsWrite)] = o.Data.ToArray();
                    break;
                case TlsOutputKind.CryptoData:
                    if (o.Level != TlsEncryptionLevel.Initial)
                        Assert.True(Secrets.ContainsKey((fromClient, o.Level, true)), $"CRYPTO at {o.Level} before its write secret");
                    var data = o.Data.ToArray();
                    if (Tamper is not null) data = Tamper(fromClient, o.Level, data);
                    Flights.Add((fromClient, o.Level, data));
                    pending.Add((o.Level, data));
                    break;
                case TlsOutputKind.HandshakeComplete:
                    if (fromClient) ClientCompleteEvents++; else ServerCompleteEvents++;
                    break;
            }
        }
        foreach (var (level, data) in pending)
            for (int i = 0; i < data.Length; i += ChunkSize)
                to.ProcessCryptoData(level, data.AsSpan(i, Math.Min(ChunkSize, data.Length - i)));
        return any;
    }

    public void AssertSecretsMatch()
    {
        foreach (var level in new[] { TlsEncryptionLevel.Handshake, TlsEncryptionLevel.Application })
        {
            Assert.Equal(Secrets[(true, level, true)], Secrets[(false, level, false)]);
            Assert.Equal(Secrets[(false, level, true)], Secrets[(true, level, false)]);
            Assert.NotEqual(Secrets[(true, level, true)], Secrets[(false, level, true)]);
        }
    }
}
