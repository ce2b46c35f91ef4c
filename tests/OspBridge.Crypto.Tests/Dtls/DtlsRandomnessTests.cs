using System.Buffers.Binary;
using OspBridge.Crypto.Dtls;
using OspBridge.Crypto.Tls;
using OspBridge.Testing.Virtual;

namespace OspBridge.Crypto.Tests.Dtls;

/// <summary>
/// The DTLS endpoint draws its randomness (hello randoms, cookie secret, ECDHE keys) from <see cref="DtlsOptions.Random"/>:
/// two runs with the same seeds produce identical first flights (ClientHello, HelloVerifyRequest, the cookie-bearing
/// ClientHello and the ServerHello record); another seed changes them. ECDSA signatures (later records) stay random.
/// </summary>
public class DtlsRandomnessTests
{
    private static DtlsTestPair Run(ulong clientSeed, ulong serverSeed)
    {
        var pair = new DtlsTestPair(
            client: o => new DtlsOptions { IsClient = true, Certificate = o.Certificate, RemoteFingerprint = o.RemoteFingerprint, Random = new SeededRandomNumberGenerator(clientSeed) },
            server: o => new DtlsOptions { IsClient = false, Certificate = o.Certificate, RemoteFingerprint = o.RemoteFingerprint, Random = new SeededRandomNumberGenerator(serverSeed) });
        Assert.True(pair.Handshake());
        return pair;
    }

    // The first record of a datagram (13-byte DTLS header + its length).
    private static byte[] FirstRecord(byte[] datagram) =>
        datagram[..(13 + BinaryPrimitives.ReadUInt16BigEndian(datagram.AsSpan(11)))];

    [Fact]
    public void SameSeeds_IdenticalFirstFlights()
    {
        using var a = Run(1, 2);
        using var b = Run(1, 2);
        Assert.Equal(a.ClientToServerDatagrams[0], b.ClientToServerDatagrams[0]); // ClientHello (random)
        Assert.Equal(a.ServerToClientDatagrams[0], b.ServerToClientDatagrams[0]); // HelloVerifyRequest (cookie from the seeded secret)
        Assert.Equal(a.ClientToServerDatagrams[1], b.ClientToServerDatagrams[1]); // ClientHello with that cookie
        Assert.Equal(FirstRecord(a.ServerToClientDatagrams[1]), FirstRecord(b.ServerToClientDatagrams[1])); // ServerHello (random)
    }

    [Fact]
    public void OtherSeeds_DifferentFlights()
    {
        using var a = Run(1, 2);
        using var c = Run(3, 2);
        using var d = Run(1, 4);
        Assert.NotEqual(a.ClientToServerDatagrams[0], c.ClientToServerDatagrams[0]);
        Assert.NotEqual(a.ServerToClientDatagrams[0], d.ServerToClientDatagrams[0]);
        Assert.NotEqual(FirstRecord(a.ServerToClientDatagrams[1]), FirstRecord(d.ServerToClientDatagrams[1]));
    }

    [Fact]
    public void EphemeralP256_FromSeed_IsReproducible()
    {
        using var k1 = EphemeralKeys.CreateP256(new SeededRandomNumberGenerator(9));
        using var k2 = EphemeralKeys.CreateP256(new SeededRandomNumberGenerator(9));
        using var k3 = EphemeralKeys.CreateP256(new SeededRandomNumberGenerator(10));
        Assert.Equal(EphemeralKeys.UncompressedPublic(k1), EphemeralKeys.UncompressedPublic(k2));
        Assert.NotEqual(EphemeralKeys.UncompressedPublic(k1), EphemeralKeys.UncompressedPublic(k3));
        Assert.Equal(k1.DeriveRawSecretAgreement(k3.PublicKey), k3.DeriveRawSecretAgreement(k1.PublicKey));
    }
}
