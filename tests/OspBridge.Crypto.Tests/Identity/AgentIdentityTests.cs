using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OspBridge.Crypto;
using OspBridge.Crypto.Identity;

namespace OspBridge.Crypto.Tests.Identity;

public sealed class AgentIdentityTests : IDisposable
{
    // A fixed P-256 key made with `openssl ecparam -name prime256v1 -genkey | openssl pkcs8 -topk8 -nocrypt`.
    private const string GoldenKeyPem = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1e8Ikg7mjDzeUwSs
        7jlwgURvxxDtE9dQnw/d7QACaP+hRANCAASpYZ0/KWP/v1ST5by+L26RjXgYq4Nt
        V6sMAe7Ra6i5nvwJG/kY6HHnwtDf7StZJsTfdaBebzxnoaoq6ACLh69T
        -----END PRIVATE KEY-----
        """;

    // Independently computed: openssl pkey -pubout -outform DER | openssl dgst -sha256 -binary | base64
    private const string GoldenFingerprint = "vxIIBWXpsKV9292Wma/f8Ly7Qf6zwr5ZuSFG22BKZ0Q=";

    private static readonly byte[] GoldenSerialBase = Convert.FromHexString("00112233445566778899aabbccddeeff");

    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ospbridge-id-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static AgentIdentity Golden(string name = "Front Door (2)", uint counter = 7)
    {
        var key = ECDsa.Create();
        key.ImportFromPem(GoldenKeyPem);
        return AgentIdentity.FromParts(key, GoldenSerialBase, counter, "abcDEF0123+/xyz9", name,
            new AgentIdentityOptions { ModelName = "Doorbell X1", TimeProvider = new FixedTime(new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.Zero)) });
    }

    [Fact]
    public void GoldenFingerprintHostnameAndSerial()
    {
        using var id = Golden();
        Assert.Equal(GoldenFingerprint, id.Fingerprint);
        Assert.Equal(44, id.Fingerprint.Length);
        Assert.Equal("00112233445566778899AABBCCDDEEFF00000007", Convert.ToHexString(id.SerialNumber));
        Assert.Equal("ABEiM0RVZneImaq7zN3u_wAAAAc", id.SerialBase64Url);
        Assert.Equal("ABEiM0RVZneImaq7zN3u_wAAAAc.Front-Door--2-.local", id.Hostname);
    }

    [Fact]
    public void CertificateFollowsTheOspProfile()
    {
        using var id = Golden();
        var cert = id.Certificate;
        Assert.Equal(3, cert.Version);
        Assert.True(cert.HasPrivateKey);
        Assert.Equal("1.2.840.10045.4.3.2", cert.SignatureAlgorithm.Value); // ecdsa-with-SHA256
        Assert.Equal("CN=" + id.Hostname, cert.Subject);
        Assert.Equal("CN=Doorbell X1", cert.Issuer);
        // DER INTEGERs are minimal: the base's leading 0x00 octet is not encoded.
        Assert.Equal(Convert.FromHexString("112233445566778899AABBCCDDEEFF00000007"), cert.SerialNumberBytes.ToArray());
        var ku = cert.Extensions.OfType<X509KeyUsageExtension>().Single();
        Assert.Equal(X509KeyUsageFlags.DigitalSignature, ku.KeyUsages);
        // SPKI algorithm identifier: ecPublicKey + prime256v1, exactly the DER the spec lists.
        var spki = cert.PublicKey.ExportSubjectPublicKeyInfo();
        Assert.StartsWith("3059301306072A8648CE3D020106082A8648CE3D030107", Convert.ToHexString(spki), StringComparison.Ordinal);
        // Serial stays within RFC 5280's 20 octets as a positive DER INTEGER.
        var tbs = new AsnReader(cert.RawData, AsnEncodingRules.DER).ReadSequence().ReadSequence();
        tbs.ReadEncodedValue(); // [0] version
        var serial = tbs.ReadIntegerBytes();
        Assert.True(serial.Length <= 20);
        Assert.True(serial.Span[0] < 0x80);
        // Self-signed with its own key.
        using var pub = cert.GetECDsaPublicKey()!;
        var sigAlgAndSig = new AsnReader(cert.RawData, AsnEncodingRules.DER).ReadSequence();
        var tbsBytes = sigAlgAndSig.ReadEncodedValue();
        sigAlgAndSig.ReadSequence();
        var sig = sigAlgAndSig.ReadBitString(out _);
        Assert.True(pub.VerifyData(tbsBytes.Span, sig, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence));
    }

    [Fact]
    public void CertificateIsDeterministicForFixedInputsExceptSignature()
    {
        using var a = Golden();
        using var b = Golden();
        Assert.Equal(a.Certificate.NotAfter, b.Certificate.NotAfter);
        Assert.Equal(new DateTime(2026, 1, 2, 2, 4, 5, DateTimeKind.Utc), a.Certificate.NotBefore.ToUniversalTime());
        Assert.Equal(a.Certificate.SubjectName.RawData, b.Certificate.SubjectName.RawData);
    }

    [Theory]
    [InlineData("Living Room TV", "Living-Room-TV")]
    [InlineData("a.b_c", "a-b-c")]
    [InlineData("Küche", "K-che")]
    [InlineData("ok-Name-9", "ok-Name-9")]
    public void LabelMapping(string input, string expected) => Assert.Equal(expected, AgentIdentity.MapLabel(input));

    [Fact]
    public void CreatePersistsAndReloadsTheSameIdentity()
    {
        string fp, at, sn, host;
        using (var id = AgentIdentity.LoadOrCreate(_dir, "Kitchen"))
        {
            fp = id.Fingerprint; at = id.AuthToken; sn = id.SerialBase64Url; host = id.Hostname;
            Assert.Equal(AgentIdentity.AuthTokenLength, at.Length);
            Assert.Matches("^[A-Za-z0-9+/]+$", at);
            Assert.Equal(0u, id.Counter);
        }
        using var again = AgentIdentity.LoadOrCreate(_dir);
        Assert.Equal(fp, again.Fingerprint);
        Assert.Equal(at, again.AuthToken);
        Assert.Equal(sn, again.SerialBase64Url);
        Assert.Equal(host, again.Hostname);
        Assert.Equal("Kitchen", again.InstanceName);
    }

    [Fact]
    public void StateFilesAreOwnerOnly()
    {
        if (OperatingSystem.IsWindows()) return;
        using var id = AgentIdentity.LoadOrCreate(_dir, "Perm");
        foreach (var f in new[] { "agent-key.pem", "agent.json", "agent-cert.pem" })
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir, f)));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(_dir));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void RenameIssuesNewCertificateWithSameFingerprint()
    {
        using var id = AgentIdentity.LoadOrCreate(_dir, "Front Door");
        var fp = id.Fingerprint;
        id.Rename("Front Door (2)");
        Assert.Equal(1u, id.Counter);
        Assert.Equal(fp, id.Fingerprint);
        Assert.EndsWith(".Front-Door--2-.local", id.Hostname, StringComparison.Ordinal);
        Assert.Equal(1, id.Certificate.SerialNumberBytes.Span[^1]);
        using var reloaded = AgentIdentity.LoadOrCreate(_dir);
        Assert.Equal(1u, reloaded.Counter);
        Assert.Equal(id.Hostname, reloaded.Hostname);
        Assert.Equal(id.Certificate.RawData, reloaded.Certificate.RawData);
    }

    [Fact]
    public void LoadWithDifferentNameReissues()
    {
        using (AgentIdentity.LoadOrCreate(_dir, "One")) { }
        using var id = AgentIdentity.LoadOrCreate(_dir, "Two");
        Assert.Equal(1u, id.Counter);
        Assert.Equal("Two", id.InstanceName);
    }

    [Fact]
    public void NearExpiryRenewsWithCounterIncrement()
    {
        var start = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var options = new AgentIdentityOptions { TimeProvider = new FixedTime(start), Validity = TimeSpan.FromDays(60) };
        string fp;
        using (var id = AgentIdentity.LoadOrCreate(_dir, "Cam", options)) fp = id.Fingerprint;
        using (var id = AgentIdentity.LoadOrCreate(_dir, "Cam", options with { TimeProvider = new FixedTime(start.AddDays(10)) }))
            Assert.Equal(0u, id.Counter);
        using var renewed = AgentIdentity.LoadOrCreate(_dir, "Cam", options with { TimeProvider = new FixedTime(start.AddDays(45)) });
        Assert.Equal(1u, renewed.Counter);
        Assert.Equal(fp, renewed.Fingerprint);
        Assert.True(renewed.NotAfter > start.AddDays(100));
    }

    [Theory]
    [InlineData("agent.json", "{\"version\":1,\"serialBase\":\"0011")]          // truncated JSON
    [InlineData("agent.json", "{\"version\":1}")]                               // missing fields
    [InlineData("agent.json", "{\"version\":9,\"serialBase\":\"00\"}")]         // unknown version
    [InlineData("agent.json", "")]                                              // empty
    [InlineData("agent-key.pem", "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG\n")] // truncated key
    [InlineData("agent-cert.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")]
    public void CorruptStateIsAnErrorNotANewIdentity(string file, string contents)
    {
        string fp;
        using (var id = AgentIdentity.LoadOrCreate(_dir, "Cam")) fp = id.Fingerprint;
        File.WriteAllText(Path.Combine(_dir, file), contents);
        var ex = Assert.Throws<CryptoException>(() => AgentIdentity.LoadOrCreate(_dir));
        Assert.Equal(CryptoError.CorruptState, ex.Error);
        Assert.Contains(file, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PartialStateIsAnError()
    {
        using (AgentIdentity.LoadOrCreate(_dir, "Cam")) { }
        File.Delete(Path.Combine(_dir, "agent.json"));
        var ex = Assert.Throws<CryptoException>(() => AgentIdentity.LoadOrCreate(_dir));
        Assert.Equal(CryptoError.CorruptState, ex.Error);
        Assert.True(File.Exists(Path.Combine(_dir, "agent-key.pem")), "the key must not be replaced");
    }

    [Fact]
    public void KeyOnAnotherCurveIsRejected()
    {
        using (AgentIdentity.LoadOrCreate(_dir, "Cam")) { }
        using var p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384);
        File.WriteAllText(Path.Combine(_dir, "agent-key.pem"), p384.ExportPkcs8PrivateKeyPem());
        Assert.Equal(CryptoError.CorruptState, Assert.Throws<CryptoException>(() => AgentIdentity.LoadOrCreate(_dir)).Error);
    }

    [Fact]
    public void AuthTokensDiffer()
    {
        using var a = AgentIdentity.CreateEphemeral("A");
        using var b = AgentIdentity.CreateEphemeral("B");
        Assert.NotEqual(a.AuthToken, b.AuthToken);
        Assert.NotEqual(a.Fingerprint, b.Fingerprint);
    }

    [Fact]
    public void InstanceNameLimits()
    {
        Assert.Throws<ArgumentException>(() => AgentIdentity.CreateEphemeral(new string('x', 64)));
        Assert.Throws<ArgumentException>(() => AgentIdentity.CreateEphemeral("  "));
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
