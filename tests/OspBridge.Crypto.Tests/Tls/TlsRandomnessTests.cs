using OspBridge.Crypto.Tls;
using OspBridge.Testing.Virtual;

namespace OspBridge.Crypto.Tests.Tls;

/// <summary>
/// The TLS 1.3 engine draws all its randomness (hello randoms, ephemeral key shares) from <see cref="QuicTlsOptions.Random"/>:
/// two runs with the same seeds produce identical first flights and identical handshake secrets; other seeds differ.
/// </summary>
public class TlsRandomnessTests
{
    private static TlsPair Run(ulong clientSeed, ulong serverSeed)
    {
        var c = TlsPair.ClientOptions();
        var s = TlsPair.ServerOptions();
        var pair = new TlsPair(
            new QuicTlsOptions
            {
                IsClient = true, ServerName = c.ServerName, ApplicationProtocols = c.ApplicationProtocols,
                LocalTransportParameters = c.LocalTransportParameters, Random = new SeededRandomNumberGenerator(clientSeed),
            },
            new QuicTlsOptions
            {
                Certificate = s.Certificate, ApplicationProtocols = s.ApplicationProtocols,
                LocalTransportParameters = s.LocalTransportParameters, Random = new SeededRandomNumberGenerator(serverSeed),
            });
        pair.Run();
        Assert.True(pair.Client.IsHandshakeComplete && pair.Server.IsHandshakeComplete);
        pair.AssertSecretsMatch();
        return pair;
    }

    private static byte[] Flight(TlsPair pair, bool fromClient) =>
        pair.Flights.First(f => f.fromClient == fromClient && f.level == TlsEncryptionLevel.Initial).data;

    [Fact]
    public void SameSeeds_IdenticalFirstFlightsAndHandshakeSecrets()
    {
        var a = Run(1, 2);
        var b = Run(1, 2);
        Assert.Equal(Flight(a, true), Flight(b, true));   // ClientHello: random and key shares
        Assert.Equal(Flight(a, false), Flight(b, false)); // ServerHello: random and key share
        // Both ECDHE private keys came from the seeds, so the handshake secrets repeat too.
        Assert.Equal(a.Secrets[(true, TlsEncryptionLevel.Handshake, true)], b.Secrets[(true, TlsEncryptionLevel.Handshake, true)]);
        Assert.Equal(a.Secrets[(false, TlsEncryptionLevel.Handshake, true)], b.Secrets[(false, TlsEncryptionLevel.Handshake, true)]);
    }

    [Fact]
    public void OtherSeeds_DifferentFlights()
    {
        var a = Run(1, 2);
        var c = Run(3, 2);
        var d = Run(1, 4);
        Assert.NotEqual(Flight(a, true), Flight(c, true));
        Assert.NotEqual(Flight(a, false), Flight(d, false));
        Assert.NotEqual(a.Secrets[(true, TlsEncryptionLevel.Handshake, true)], c.Secrets[(true, TlsEncryptionLevel.Handshake, true)]);
    }

    [Theory]
    [InlineData(NamedGroup.X25519)]
    [InlineData(NamedGroup.Secp256r1)]
    public void KeyShare_FromSeed_IsReproducibleAndAgrees(ushort group)
    {
        using var a1 = KeyShare.Create(group, new SeededRandomNumberGenerator(5));
        using var a2 = KeyShare.Create(group, new SeededRandomNumberGenerator(5));
        using var b = KeyShare.Create(group, new SeededRandomNumberGenerator(6));
        Assert.Equal(a1.Public, a2.Public);
        Assert.NotEqual(a1.Public, b.Public);
        Assert.Equal(a1.Agree(b.Public), b.Agree(a1.Public));
    }

    [Fact]
    public void DefaultRandom_IsTheSystemCsprng()
    {
        Assert.Same(EphemeralKeys.SystemRandom, new QuicTlsOptions().Random);
        Assert.Same(EphemeralKeys.SystemRandom, new OspBridge.Crypto.Dtls.DtlsOptions().Random);
    }
}
