using System.Numerics;
using OspBridge.Crypto.Spake2;
using OspBridge.Testing.Virtual;
using Org.BouncyCastle.Crypto.EC;
using Spake2Party = OspBridge.Crypto.Spake2.Spake2;

namespace OspBridge.Crypto.Tests.Spake2;

/// <summary>
/// Wrong passwords, invalid shares (small order, non-canonical, identity, off-curve, wrong length, seeded random
/// mutations), misuse of the state machine, zeroing, and a seeded round-trip property over many passwords/identities.
/// Errors are values: nothing here may throw except the documented misuse (export before confirmation, disposed use).
/// </summary>
public class Spake2NegativeTests
{
    // The first edwards25519 vector of tests/vectors/spake2.json (pw "61488548833"); values below derived from it by
    // tests/vectors/spake2_check.py's arithmetic.
    private static Spake2VectorTests.Vector EdVector => Spake2VectorTests.Vectors.Value.First(v => v.SuiteId == Spake2Suite.Edwards25519Sha256);

    private static Spake2VectorTests.Vector P256Vector => Spake2VectorTests.Vectors.Value.First(v => v.SuiteId == Spake2Suite.P256Sha256);

    /// <summary>Encodings a receiver must refuse as an edwards25519 share.</summary>
    public static TheoryData<string, string> InvalidEdwardsShares() => new()
    {
        // The eight small-order points (and the identity among them).
        { "identity (0,1)", "0100000000000000000000000000000000000000000000000000000000000000" },
        { "order 2 (0,-1)", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f" },
        { "order 4 (sqrt(-1),0)", "0000000000000000000000000000000000000000000000000000000000000000" },
        { "order 4 (-sqrt(-1),0)", "0000000000000000000000000000000000000000000000000000000000000080" },
        { "order 8 a", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05" },
        { "order 8 b", "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85" },
        { "order 8 c", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a" },
        { "order 8 d", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa" },
        // Non-canonical encodings: y >= p, and a negative zero x.
        { "y = p (non-canonical 0)", "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f" },
        { "y = p + 1 (non-canonical identity)", "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f" },
        { "y = 2^255 - 1", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f" },
        { "identity with sign bit (-0)", "0100000000000000000000000000000000000000000000000000000000000080" },
        // y = 2: not on the curve (x^2 = 3/(4d+1) is not a square).
        { "off curve y=2", "0200000000000000000000000000000000000000000000000000000000000000" },
        // The vector's pA plus a point of order 8: on the curve, but not in the prime-order subgroup.
        { "mixed order (pA + T8)", "a7e8c5388c40a8aa0ed87434703bf51de798c08abf26e34c391ce7b86db91963" },
        // Wrong lengths.
        { "empty", "" },
        { "31 bytes", "d048032c6ea0b6d697ddc2e86bda85a33adac920f1bf18e1b0c6d166a5cecd" },
        { "33 bytes", "d048032c6ea0b6d697ddc2e86bda85a33adac920f1bf18e1b0c6d166a5cecdaf00" },
    };

    [Theory]
    [MemberData(nameof(InvalidEdwardsShares))]
    public void Edwards_InvalidShare_IsRefusedWithoutStateChange(string what, string hex) =>
        AssertBothRefuseThenStillComplete(EdVector, Convert.FromHexString(hex), Convert.FromHexString(hex), what);

    [Fact]
    public void Edwards_ShareThatCancelsThePassword_GivesIdentityK_IsRefused()
    {
        // pB = w·N makes pB − w·N the identity, so K would be the identity (and likewise pA = w·M for Bob).
        AssertBothRefuseThenStillComplete(EdVector,
            toAlice: Convert.FromHexString("fef9f964b779b875cb7e90a8ad65ec60456db4f3f6dc7222f21f4be82845e2c1"),
            toBob: Convert.FromHexString("0efaeb2a150d17551c87d627f4774c98b5ac5a5b3390d28575c8b9622e50fb22"),
            "pB = w·N, pA = w·M");
    }

    public static TheoryData<string, string> InvalidP256Shares()
    {
        var v = Spake2VectorTests.Vectors.Value.First(x => x.SuiteId == Spake2Suite.P256Sha256);
        var pB = v.PB;
        var offCurve = (byte[])pB.Clone();
        offCurve[^1] ^= 1;
        var hybrid = (byte[])pB.Clone();
        hybrid[0] = (byte)(6 | (pB[^1] & 1));
        var badPrefix = (byte[])pB.Clone();
        badPrefix[0] = 0x05;
        var compressed = new byte[33];
        compressed[0] = (byte)(2 | (pB[^1] & 1));
        pB.AsSpan(1, 32).CopyTo(compressed.AsSpan(1));
        // x = p (one past the field): not canonical whatever y is.
        var xIsP = new byte[65];
        xIsP[0] = 4;
        Convert.FromHexString("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff").CopyTo(xIsP, 1);
        pB.AsSpan(33, 32).CopyTo(xIsP.AsSpan(33));
        // A valid point with y replaced by y + p (same residue, non-canonical) is refused too.
        var yPlusP = (byte[])pB.Clone();
        var y = new BigInteger(pB.AsSpan(33, 32), isUnsigned: true, isBigEndian: true)
            + new BigInteger(Convert.FromHexString("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff"), isUnsigned: true, isBigEndian: true);
        var yBytes = y.ToByteArray(isUnsigned: true, isBigEndian: true);
        var yPlusPValid = yBytes.Length == 32;
        if (yPlusPValid) yBytes.CopyTo(yPlusP, 33);
        var data = new TheoryData<string, string>
        {
            { "off curve (y flipped)", Convert.ToHexString(offCurve) },
            { "compressed encoding of the valid point", Convert.ToHexString(compressed) },
            { "hybrid encoding", Convert.ToHexString(hybrid) },
            { "prefix 05", Convert.ToHexString(badPrefix) },
            { "x = p", Convert.ToHexString(xIsP) },
            { "identity (SEC1 0x00)", "00" },
            { "65 zero bytes", Convert.ToHexString(new byte[65]) },
            { "04 then zeros (0,0) off curve", "04" + Convert.ToHexString(new byte[64]) },
            { "empty", "" },
            { "64 bytes", Convert.ToHexString(pB.AsSpan(0, 64)) },
            { "66 bytes", Convert.ToHexString([.. pB, 0]) },
            { "edwards-sized 32 bytes", Convert.ToHexString(pB.AsSpan(1, 32)) },
        };
        if (yPlusPValid) data.Add("y + p", Convert.ToHexString(yPlusP));
        return data;
    }

    [Theory]
    [MemberData(nameof(InvalidP256Shares))]
    public void P256_InvalidShare_IsRefusedWithoutStateChange(string what, string hex) =>
        AssertBothRefuseThenStillComplete(P256Vector, Convert.FromHexString(hex), Convert.FromHexString(hex), what);

    [Fact]
    public void P256_ShareThatCancelsThePassword_IsRefused()
    {
        var v = P256Vector;
        var p256 = CustomNamedCurves.GetByName("P-256");
        var w = new Org.BouncyCastle.Math.BigInteger(1, v.W);
        var n = p256.Curve.DecodePoint(Convert.FromHexString("03d8bbd6c639c62937b04d997f38c3770719c629d7014d49a24b4f98baa1292b49"));
        var m = p256.Curve.DecodePoint(Convert.FromHexString("02886e2f97ace46e55ba9dd7242579f2993b64e16ef3dcab95afd497333d8fa12f"));
        AssertBothRefuseThenStillComplete(v, toAlice: n.Multiply(w).Normalize().GetEncoded(false), toBob: m.Multiply(w).Normalize().GetEncoded(false), "pB = w·N, pA = w·M");
    }

    [Theory]
    [InlineData(Spake2Suite.Edwards25519Sha256, 1u)]
    [InlineData(Spake2Suite.P256Sha256, 2u)]
    public void MutatedShares_NeverThrow_AndNeverCompleteWithTheRealPeer(Spake2Suite suite, uint seed)
    {
        var v = Spake2VectorTests.Vectors.Value.First(x => x.SuiteId == suite);
        var rng = new Random((int)seed);
        int iterations = suite == Spake2Suite.Edwards25519Sha256 ? 1500 : 300;
        int accepted = 0, refused = 0;
        for (int i = 0; i < iterations; i++)
        {
            var share = Mutate(v.PB, rng);
            if (share.AsSpan().SequenceEqual(v.PB)) continue; // two flips of the same bit
            using var alice = v.Party(Spake2Role.Alice);
            if (alice.TryProcessPeerShare(share, out var e))
            {
                // A mutated share can be a valid element; then the keys differ from Bob's and confirmation fails.
                accepted++;
                Assert.Equal(Spake2Error.None, e);
                Assert.False(alice.TryVerifyPeerConfirmation(v.CB, out e));
                Assert.Equal(Spake2Error.ConfirmationMismatch, e);
            }
            else
            {
                refused++;
                Assert.Equal(Spake2Error.InvalidShare, e);
            }
        }
        Assert.True(refused > iterations / 4, $"refused {refused}, accepted {accepted}");
    }

    [Theory]
    [InlineData(Spake2Suite.Edwards25519Sha256)]
    [InlineData(Spake2Suite.P256Sha256)]
    public void WrongPassword_ConfirmationMismatchOnBothSides_NoKey(Spake2Suite suite)
    {
        var rng = new SeededRandomNumberGenerator(11);
        using var alice = Spake2Party.Create(suite, Spake2Role.Alice, "61488548833"u8, "client"u8, "server"u8, rng);
        using var bob = Spake2Party.Create(suite, Spake2Role.Bob, "61488548834"u8, "client"u8, "server"u8, rng);
        Assert.True(alice.TryProcessPeerShare(bob.PublicShare, out _));
        Assert.True(bob.TryProcessPeerShare(alice.PublicShare, out _));
        var cA = alice.Confirmation.ToArray();
        var cB = bob.Confirmation.ToArray();
        Assert.False(alice.TryVerifyPeerConfirmation(cB, out var e1));
        Assert.Equal(Spake2Error.ConfirmationMismatch, e1);
        Assert.False(bob.TryVerifyPeerConfirmation(cA, out var e2));
        Assert.Equal(Spake2Error.ConfirmationMismatch, e2);
        Assert.False(alice.IsConfirmed);
        Assert.False(bob.IsConfirmed);
        Assert.Equal(CryptoError.InvalidState, Assert.Throws<CryptoException>(() => alice.ExportSharedKey()).Error);
        Assert.Equal(CryptoError.InvalidState, Assert.Throws<CryptoException>(() => bob.ExportSharedKey()).Error);
        // A failed exchange is final: the right MAC afterwards does not revive it, and its secrets are gone.
        Assert.False(alice.TryVerifyPeerConfirmation(cB, out e1));
        Assert.Equal(Spake2Error.InvalidState, e1);
        Assert.True(alice.Ke.IsEmpty && alice.Transcript.IsEmpty && alice.W.IsEmpty);
    }

    [Theory]
    [InlineData(Spake2Suite.Edwards25519Sha256)]
    [InlineData(Spake2Suite.P256Sha256)]
    public void MismatchedIdentitiesOrSameRole_ConfirmationMismatch(Spake2Suite suite)
    {
        var rng = new SeededRandomNumberGenerator(12);
        using (var alice = Spake2Party.Create(suite, Spake2Role.Alice, "1"u8, "client"u8, "server"u8, rng))
        using (var bob = Spake2Party.Create(suite, Spake2Role.Bob, "1"u8, "server"u8, "client"u8, rng))
        {
            Assert.True(alice.TryProcessPeerShare(bob.PublicShare, out _));
            Assert.True(bob.TryProcessPeerShare(alice.PublicShare, out _));
            Assert.False(bob.TryVerifyPeerConfirmation(alice.Confirmation, out var e));
            Assert.Equal(Spake2Error.ConfirmationMismatch, e);
        }
        using (var a1 = Spake2Party.Create(suite, Spake2Role.Alice, "1"u8, "client"u8, "server"u8, rng))
        using (var a2 = Spake2Party.Create(suite, Spake2Role.Alice, "1"u8, "client"u8, "server"u8, rng))
        {
            Assert.True(a1.TryProcessPeerShare(a2.PublicShare, out _));
            Assert.True(a2.TryProcessPeerShare(a1.PublicShare, out _));
            // Two Alices: each expects cB and receives cA.
            Assert.False(a1.TryVerifyPeerConfirmation(a2.Confirmation, out var e));
            Assert.Equal(Spake2Error.ConfirmationMismatch, e);
        }
    }

    [Fact]
    public void Reflection_OwnConfirmationOrShare_IsNotAccepted()
    {
        var v = EdVector;
        using var alice = v.Party(Spake2Role.Alice);
        // Alice's own share reflected back as Bob's: a valid element, but the keys will not confirm with cA.
        Assert.True(alice.TryProcessPeerShare(v.PA, out _));
        Assert.False(alice.TryVerifyPeerConfirmation(alice.Confirmation, out var e));
        Assert.Equal(Spake2Error.ConfirmationMismatch, e);
    }

    [Theory]
    [InlineData(Spake2Suite.Edwards25519Sha256)]
    [InlineData(Spake2Suite.P256Sha256)]
    public void StateMachineMisuse(Spake2Suite suite)
    {
        var rng = new SeededRandomNumberGenerator(13);
        using var alice = Spake2Party.Create(suite, Spake2Role.Alice, "9"u8, [], [], rng);
        using var bob = Spake2Party.Create(suite, Spake2Role.Bob, "9"u8, [], [], rng);

        // Confirmation before the share; export before anything.
        Assert.False(alice.TryVerifyPeerConfirmation(new byte[32], out var e));
        Assert.Equal(Spake2Error.InvalidState, e);
        Assert.False(alice.TryVerifyPeerOspConfirmationField(new byte[64], out e));
        Assert.Equal(Spake2Error.InvalidState, e);
        Assert.Throws<CryptoException>(() => alice.ExportSharedKey());
        Assert.Throws<CryptoException>(() => alice.GetOspConfirmationField());

        Assert.True(alice.TryProcessPeerShare(bob.PublicShare, out _));
        Assert.True(bob.TryProcessPeerShare(alice.PublicShare, out _));
        // Export after the share but before the peer's confirmation.
        Assert.Equal(CryptoError.InvalidState, Assert.Throws<CryptoException>(() => alice.ExportSharedKey()).Error);
        // A second share: one object is one exchange (x is never reused).
        Assert.False(alice.TryProcessPeerShare(bob.PublicShare, out e));
        Assert.Equal(Spake2Error.InvalidState, e);

        Assert.True(alice.TryVerifyPeerConfirmation(bob.Confirmation, out _));
        Assert.True(alice.IsConfirmed);
        Assert.False(alice.TryVerifyPeerConfirmation(bob.Confirmation, out e));
        Assert.Equal(Spake2Error.InvalidState, e);
        Assert.Equal(16, alice.ExportSharedKey().Length);
    }

    [Fact]
    public void OspConfirmationField_PaddingAndLengthAreChecked()
    {
        var v = EdVector;
        foreach (var bad in new Func<byte[], byte[]>[]
                 {
                     f => { f[63] = 1; return f; },      // non-zero padding
                     f => { f[32] = 0x80; return f; },
                     f => f[..32],                       // the bare MAC is not the field
                     f => [.. f, 0],                     // 65 bytes
                     f => { f[0] ^= 1; return f; },      // wrong MAC
                 })
        {
            using var alice = v.Party(Spake2Role.Alice);
            using var bob = v.Party(Spake2Role.Bob);
            Assert.True(alice.TryProcessPeerShare(v.PB, out _));
            Assert.True(bob.TryProcessPeerShare(v.PA, out _));
            Assert.False(alice.TryVerifyPeerOspConfirmationField(bad(bob.GetOspConfirmationField()), out var e));
            Assert.Equal(Spake2Error.ConfirmationMismatch, e);
            Assert.Throws<CryptoException>(() => alice.ExportSharedKey());
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(31)]
    [InlineData(33)]
    [InlineData(64)]
    public void Confirmation_WrongLength_IsMismatch(int length)
    {
        var v = EdVector;
        using var alice = v.Party(Spake2Role.Alice);
        Assert.True(alice.TryProcessPeerShare(v.PB, out _));
        var mac = new byte[length];
        v.CB.AsSpan(0, Math.Min(32, length)).CopyTo(mac);
        Assert.False(alice.TryVerifyPeerConfirmation(mac, out var e));
        Assert.Equal(Spake2Error.ConfirmationMismatch, e);
    }

    [Fact]
    public void Dispose_ZeroesSecrets_ThenUseThrows()
    {
        var v = EdVector;
        var alice = v.Party(Spake2Role.Alice);
        using var bob = v.Party(Spake2Role.Bob);
        Assert.True(alice.TryProcessPeerShare(v.PB, out _));
        Assert.True(alice.TryVerifyPeerConfirmation(v.CB, out _));
        var ke = alice.Ke;         // views of the internal buffers
        var tt = alice.Transcript;
        var w = alice.W;
        Assert.False(ke.IndexOfAnyExcept((byte)0) < 0);
        alice.Dispose();
        // The buffers themselves were zeroed (not only dropped), and the views are now empty.
        Assert.True(ke.IndexOfAnyExcept((byte)0) < 0);
        Assert.True(tt.IndexOfAnyExcept((byte)0) < 0);
        Assert.True(w.IndexOfAnyExcept((byte)0) < 0);
        Assert.True(alice.Ke.IsEmpty && alice.KcA.IsEmpty && alice.KcB.IsEmpty && alice.SharedElement.IsEmpty);
        Assert.False(alice.IsConfirmed);
        Assert.Throws<ObjectDisposedException>(() => alice.ExportSharedKey());
        Assert.Throws<ObjectDisposedException>(() => alice.TryProcessPeerShare(v.PB, out _));
        alice.Dispose(); // idempotent
    }

    [Fact]
    public void TestFactories_RefuseNonCanonicalOrZeroScalars()
    {
        var v = EdVector;
        var l = Convert.FromHexString("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
        Assert.Throws<CryptoException>(() => Spake2Party.CreateWithScalar(Spake2Suite.Edwards25519Sha256, Spake2Role.Alice, v.Pw, v.A, v.B, l));
        Assert.Throws<CryptoException>(() => Spake2Party.CreateWithScalar(Spake2Suite.Edwards25519Sha256, Spake2Role.Alice, v.Pw, v.A, v.B, new byte[32]));
        Assert.Throws<CryptoException>(() => Spake2Party.CreateWithW(Spake2Suite.P256Sha256, Spake2Role.Alice, new byte[31], [], [], v.X));
    }

    /// <summary>Seeded round trips: many PSKs and identities (including empty and long), both suites; equal Ke when pw and
    /// identities match, ConfirmationMismatch on both sides when the PSK differs.</summary>
    [Theory]
    [InlineData(Spake2Suite.Edwards25519Sha256, 200, 20261205UL)]
    [InlineData(Spake2Suite.P256Sha256, 40, 20261206UL)]
    public void Property_RoundTrip(Spake2Suite suite, int count, ulong seed)
    {
        var rng = new SeededRandomNumberGenerator(seed);
        var pick = new Random((int)(seed & 0x7fffffff));
        int matched = 0, mismatched = 0;
        for (int i = 0; i < count; i++)
        {
            var psk = new BigInteger(RandomBytes(pick, pick.Next(1, 11)), isUnsigned: true);
            bool samePassword = pick.Next(4) != 0;
            var pskB = samePassword ? psk : psk + pick.Next(1, 1000);
            var idA = RandomBytes(pick, pick.Next(0, 3) == 0 ? 0 : 32);
            var idB = RandomBytes(pick, pick.Next(0, 70));
            using var alice = Spake2Party.Create(suite, Spake2Role.Alice, Spake2Party.PasswordFromPsk(psk), idA, idB, rng);
            using var bob = Spake2Party.Create(suite, Spake2Role.Bob, Spake2Party.PasswordFromPsk(pskB), idA, idB, rng);
            Assert.True(alice.TryProcessPeerShare(bob.PublicShare, out var e), $"seed {seed} #{i}: {e}");
            Assert.True(bob.TryProcessPeerShare(alice.PublicShare, out e), $"seed {seed} #{i}: {e}");
            var fieldA = alice.GetOspConfirmationField();
            var fieldB = bob.GetOspConfirmationField();
            bool okA = alice.TryVerifyPeerOspConfirmationField(fieldB, out var eA);
            bool okB = bob.TryVerifyPeerOspConfirmationField(fieldA, out var eB);
            if (samePassword)
            {
                Assert.True(okA && okB, $"seed {seed} #{i}: {eA}/{eB}");
                Assert.Equal(alice.ExportSharedKey(), bob.ExportSharedKey());
                matched++;
            }
            else
            {
                Assert.False(okA || okB, $"seed {seed} #{i}");
                Assert.Equal(Spake2Error.ConfirmationMismatch, eA);
                Assert.Equal(Spake2Error.ConfirmationMismatch, eB);
                mismatched++;
            }
        }
        Assert.True(matched > 0 && mismatched > 0);
    }

    /// <summary>
    /// Fresh parties of <paramref name="v"/>: Alice refuses <paramref name="toAlice"/> and Bob <paramref name="toBob"/>
    /// as <see cref="Spake2Error.InvalidShare"/>, and without a state change the honest exchange still completes.
    /// </summary>
    private static void AssertBothRefuseThenStillComplete(Spake2VectorTests.Vector v, byte[] toAlice, byte[] toBob, string what)
    {
        using var alice = v.Party(Spake2Role.Alice);
        using var bob = v.Party(Spake2Role.Bob);
        Assert.False(alice.TryProcessPeerShare(toAlice, out var e), what);
        Assert.Equal(Spake2Error.InvalidShare, e);
        Assert.False(bob.TryProcessPeerShare(toBob, out e), what);
        Assert.Equal(Spake2Error.InvalidShare, e);
        AssertStillCompletes(alice, bob, v.Ke);
    }

    private static void AssertStillCompletes(Spake2Party alice, Spake2Party bob, byte[] ke)
    {
        var v = alice.Suite == Spake2Suite.P256Sha256 ? P256Vector : EdVector;
        Assert.True(alice.TryProcessPeerShare(bob.PublicShare, out var e), e.ToString());
        Assert.True(bob.TryProcessPeerShare(alice.PublicShare, out e), e.ToString());
        Assert.True(alice.TryVerifyPeerConfirmation(bob.Confirmation, out e), e.ToString());
        Assert.True(bob.TryVerifyPeerConfirmation(alice.Confirmation, out e), e.ToString());
        Assert.Equal(ke, alice.ExportSharedKey());
        Assert.Equal(v.Ke, bob.ExportSharedKey());
    }

    private static byte[] RandomBytes(Random rng, int length)
    {
        var b = new byte[length];
        rng.NextBytes(b);
        return b;
    }

    private static byte[] Mutate(byte[] input, Random rng)
    {
        var b = new List<byte>(input);
        int ops = rng.Next(1, 4);
        for (int i = 0; i < ops; i++)
        {
            switch (rng.Next(6))
            {
                case 0: b[rng.Next(b.Count)] ^= (byte)(1 << rng.Next(8)); break;
                case 1: b[rng.Next(b.Count)] = (byte)rng.Next(256); break;
                case 2 when b.Count > 0: b.RemoveAt(rng.Next(b.Count)); break;
                case 3: b.Insert(rng.Next(b.Count + 1), (byte)rng.Next(256)); break;
                case 4: b[^1] ^= 0x80; break;
                default: b[0] = (byte)rng.Next(256); break;
            }
            if (b.Count == 0) b.Add(0);
        }
        return [.. b];
    }
}
