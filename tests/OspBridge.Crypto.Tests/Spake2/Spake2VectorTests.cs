using System.Numerics;
using System.Text;
using System.Text.Json;
using OspBridge.Crypto.Spake2;
using OspBridge.Testing.Virtual;
using Spake2Party = OspBridge.Crypto.Spake2.Spake2;

namespace OspBridge.Crypto.Tests.Spake2;

/// <summary>
/// tests/vectors/spake2.json (RFC 9382 Appendix B's four P-256 vectors and our edwards25519 OSP-profile vectors,
/// the latter independently recomputed by tests/vectors/spake2_check.py): every field of every entry against our
/// code, playing both roles.
/// </summary>
public class Spake2VectorTests
{
    internal sealed record Vector(string Suite, byte[] Pw, byte[] A, byte[] B, byte[] W, byte[] X, byte[] Y, byte[] PA,
        byte[] PB, byte[] K, byte[] TT, byte[] Ke, byte[] Ka, byte[] KcA, byte[] KcB, byte[] CA, byte[] CB)
    {
        public Spake2Suite SuiteId => Suite switch
        {
            "edwards25519-SHA256-HKDF-HMAC-SHA256" => Spake2Suite.Edwards25519Sha256,
            "P256-SHA256-HKDF-HMAC-SHA256" => Spake2Suite.P256Sha256,
            _ => throw new InvalidDataException($"unknown suite {Suite}"),
        };

        public Spake2Party Party(Spake2Role role)
        {
            var scalar = role == Spake2Role.Alice ? X : Y;
            // RFC 9382 gives w (no pw); our vectors give pw and w must follow from it.
            return Pw.Length == 0
                ? Spake2Party.CreateWithW(SuiteId, role, W, A, B, scalar)
                : Spake2Party.CreateWithScalar(SuiteId, role, Pw, A, B, scalar);
        }
    }

    internal static readonly Lazy<IReadOnlyList<Vector>> Vectors = new(() =>
    {
        var path = Path.Combine(AppContext.BaseDirectory, "vectors", "spake2.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var list = new List<Vector>();
        foreach (var e in doc.RootElement.EnumerateArray())
        {
            byte[] H(string name) => Convert.FromHexString(e.GetProperty(name).GetString()!);
            list.Add(new Vector(e.GetProperty("suite").GetString()!, H("pw"), H("A"), H("B"), H("w"), H("x"), H("y"),
                H("pA"), H("pB"), H("K"), H("TT"), H("Ke"), H("Ka"), H("KcA"), H("KcB"), H("cA"), H("cB")));
        }
        return list;
    });

    public static TheoryData<int> VectorIndexes()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < Vectors.Value.Count; i++) data.Add(i);
        return data;
    }

    [Fact]
    public void File_HasTheFourRfcVectorsAndAtLeastFourOfOurs()
    {
        var v = Vectors.Value;
        var rfc = v.Where(x => x.SuiteId == Spake2Suite.P256Sha256).ToList();
        Assert.Equal(4, rfc.Count);
        // RFC 9382 Appendix B's identity pairs, in order.
        Assert.Equal(["server/client", "/client", "server/", "/"], rfc.Select(x => $"{Encoding.ASCII.GetString(x.A)}/{Encoding.ASCII.GetString(x.B)}"));
        var ours = v.Where(x => x.SuiteId == Spake2Suite.Edwards25519Sha256).ToList();
        Assert.True(ours.Count >= 4);
        foreach (var x in ours)
        {
            // OSP profile: identities are raw 32-byte SHA-256(SPKI) fingerprints, pw the canonical decimal PSK.
            Assert.Equal(32, x.A.Length);
            Assert.Equal(32, x.B.Length);
            var digits = Encoding.ASCII.GetString(x.Pw);
            Assert.Equal(digits, Encoding.ASCII.GetString(Spake2Party.PasswordFromPsk(BigInteger.Parse(digits, System.Globalization.CultureInfo.InvariantCulture))));
        }
    }

    [Theory]
    [MemberData(nameof(VectorIndexes))]
    public void Vector_EveryField_BothRoles(int index)
    {
        var v = Vectors.Value[index];
        using var alice = v.Party(Spake2Role.Alice);
        using var bob = v.Party(Spake2Role.Bob);

        Assert.Equal(v.W, alice.W.ToArray());
        Assert.Equal(v.W, bob.W.ToArray());
        Assert.Equal(v.PA, alice.PublicShare.ToArray());
        Assert.Equal(v.PB, bob.PublicShare.ToArray());
        Assert.True(alice.Confirmation.IsEmpty);

        Assert.True(alice.TryProcessPeerShare(v.PB, out var e1), e1.ToString());
        Assert.True(bob.TryProcessPeerShare(v.PA, out var e2), e2.ToString());
        foreach (var party in new[] { alice, bob })
        {
            Assert.Equal(v.K, party.SharedElement.ToArray());
            Assert.Equal(v.TT, party.Transcript.ToArray());
            Assert.Equal(v.Ke, party.Ke.ToArray());
            Assert.Equal(v.Ka, party.Ka.ToArray());
            Assert.Equal(v.KcA, party.KcA.ToArray());
            Assert.Equal(v.KcB, party.KcB.ToArray());
            Assert.True(party.SecretScalar.IsEmpty); // x / y used once, then zeroed
        }
        Assert.Equal(v.CA, alice.Confirmation.ToArray());
        Assert.Equal(v.CB, bob.Confirmation.ToArray());

        Assert.True(alice.TryVerifyPeerConfirmation(v.CB, out e1), e1.ToString());
        Assert.True(bob.TryVerifyPeerConfirmation(v.CA, out e2), e2.ToString());
        Assert.Equal(v.Ke, alice.ExportSharedKey());
        Assert.Equal(v.Ke, bob.ExportSharedKey());
    }

    [Theory]
    [MemberData(nameof(VectorIndexes))]
    public void Vector_OspConfirmationField_IsMacThenThirtyTwoZeros(int index)
    {
        var v = Vectors.Value[index];
        using var alice = v.Party(Spake2Role.Alice);
        using var bob = v.Party(Spake2Role.Bob);
        Assert.True(alice.TryProcessPeerShare(v.PB, out _));
        Assert.True(bob.TryProcessPeerShare(v.PA, out _));
        var fieldA = alice.GetOspConfirmationField();
        var fieldB = bob.GetOspConfirmationField();
        Assert.Equal([.. v.CA, .. new byte[32]], fieldA);
        Assert.Equal([.. v.CB, .. new byte[32]], fieldB);
        Assert.True(alice.TryVerifyPeerOspConfirmationField(fieldB, out var e1), e1.ToString());
        Assert.True(bob.TryVerifyPeerOspConfirmationField(fieldA, out var e2), e2.ToString());
        Assert.Equal(v.Ke, alice.ExportSharedKey());
        Assert.Equal(v.Ke, bob.ExportSharedKey());
    }

    [Fact]
    public void Transcript_EmptyIdentities_AreLengthZeroNotOmitted()
    {
        // RFC 9382 §3.3 (and Appendix B's A='' vectors): an absent identity is len(nil) = 0, still present.
        var tt = Spake2Party.BuildTranscript([], "client"u8, [1], [2], [3], [4]);
        Assert.Equal(Convert.FromHexString("0000000000000000" + "0600000000000000636c69656e74" + "010000000000000001"
            + "010000000000000002" + "010000000000000003" + "010000000000000004"), tt);
    }

    [Fact]
    public void PasswordFromPsk_IsCanonicalAsciiDecimal()
    {
        Assert.Equal("61488548833"u8.ToArray(), Spake2Party.PasswordFromPsk(61488548833));
        Assert.Equal("0"u8.ToArray(), Spake2Party.PasswordFromPsk(BigInteger.Zero));
        // 80-bit PSK (the spec's maximum) — beyond 64 bits.
        Assert.Equal("1208925819614629174706175"u8.ToArray(), Spake2Party.PasswordFromPsk((BigInteger.One << 80) - 1));
        // The spec's base-10 form "0614-8854-8833" and the QR hex form "e5100cbe1" decode to the same P, hence the same pw.
        var fromPin = BigInteger.Parse("0614-8854-8833".Replace("-", "", StringComparison.Ordinal).TrimStart('0'), System.Globalization.CultureInfo.InvariantCulture);
        var fromHex = BigInteger.Parse("0e5100cbe1", System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(Spake2Party.PasswordFromPsk(fromPin), Spake2Party.PasswordFromPsk(fromHex));
        Assert.Throws<ArgumentOutOfRangeException>(() => Spake2Party.PasswordFromPsk(BigInteger.MinusOne));
    }

    [Theory]
    [InlineData(Spake2Suite.Edwards25519Sha256, 32)]
    [InlineData(Spake2Suite.P256Sha256, 65)]
    public void Create_WithSeededRandom_IsDeterministicAndRandomDiffers(Spake2Suite suite, int shareSize)
    {
        using var a1 = Spake2Party.Create(suite, Spake2Role.Alice, "123"u8, "a"u8, "b"u8, new SeededRandomNumberGenerator(7));
        using var a2 = Spake2Party.Create(suite, Spake2Role.Alice, "123"u8, "a"u8, "b"u8, new SeededRandomNumberGenerator(7));
        using var a3 = Spake2Party.Create(suite, Spake2Role.Alice, "123"u8, "a"u8, "b"u8, new SeededRandomNumberGenerator(8));
        Assert.Equal(shareSize, a1.PublicShare.Length);
        Assert.Equal(a1.PublicShare.ToArray(), a2.PublicShare.ToArray());
        Assert.NotEqual(a1.PublicShare.ToArray(), a3.PublicShare.ToArray());
        Assert.Equal(suite, a1.Suite);
        Assert.Equal(Spake2Role.Alice, a1.Role);
    }
}
