using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;
using OspBridge.Crypto.Certificates;
using OspBridge.Crypto.Identity;

namespace OspBridge.Crypto.Tests.Certificates;

public class CertificateTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 4, 5, 6, 7, 890, TimeSpan.Zero);

    [Fact]
    public void SelfSigned_ValidityWindow_KeyAndSubject()
    {
        var clock = new FakeTimeProvider(T0);
        using var cert = SelfSignedCertificate.Create("WebRTC", new SelfSignedCertificateOptions { TimeProvider = clock });
        Assert.Equal("CN=WebRTC", cert.Subject);
        Assert.Equal(cert.Subject, cert.Issuer);
        Assert.Equal(T0.AddMilliseconds(-890).AddDays(-1).UtcDateTime, cert.NotBefore.ToUniversalTime());
        Assert.Equal(T0.AddMilliseconds(-890).AddDays(30).UtcDateTime, cert.NotAfter.ToUniversalTime());
        using var key = cert.GetECDsaPrivateKey();
        Assert.NotNull(key);
        Assert.Equal(256, key.KeySize);
        Assert.Empty(cert.Extensions);
        Assert.True(cert.GetSerialNumber().Length is >= 7 and <= 8);
        Assert.NotEqual(SelfSignedCertificate.Create("WebRTC").GetSerialNumberString(), SelfSignedCertificate.Create("WebRTC").GetSerialNumberString());
    }

    [Fact]
    public void TlsServer_HasDnsSan_And13Days()
    {
        using var cert = SelfSignedCertificate.CreateTlsServer("localhost");
        var san = Assert.Single(cert.Extensions.OfType<X509SubjectAlternativeNameExtension>());
        Assert.Equal(["localhost"], san.EnumerateDnsNames());
        var life = cert.NotAfter - cert.NotBefore;
        Assert.InRange(life, TimeSpan.FromDays(13), TimeSpan.FromDays(13) + TimeSpan.FromMinutes(2));
    }

    [Fact]
    public void EndEntity_IssuerSerialAndExtensions()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        byte[] serial = [0x12, 0x34, 0x56];
        using var cert = SelfSignedCertificate.Create(key, "host.local", new SelfSignedCertificateOptions
        {
            IssuerCommonName = "Model", DnsNames = ["host.local"], SerialNumber = serial, EndEntityExtensions = true,
            TimeProvider = new FakeTimeProvider(T0),
        });
        Assert.Equal("CN=Model", cert.Issuer);
        Assert.Equal("CN=host.local", cert.Subject);
        Assert.Equal(serial, cert.SerialNumberBytes.ToArray());
        var ku = Assert.Single(cert.Extensions.OfType<X509KeyUsageExtension>());
        Assert.True(ku.Critical);
        Assert.Equal(X509KeyUsageFlags.DigitalSignature, ku.KeyUsages);
        Assert.False(Assert.Single(cert.Extensions.OfType<X509BasicConstraintsExtension>()).CertificateAuthority);
        var eku = Assert.Single(cert.Extensions.OfType<X509EnhancedKeyUsageExtension>());
        Assert.Equal(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"], eku.EnhancedKeyUsages.Cast<Oid>().Select(o => o.Value));
        Assert.Equal(key.ExportSubjectPublicKeyInfo(), cert.PublicKey.ExportSubjectPublicKeyInfo());
    }

    [Fact]
    public void Fingerprint_SpkiAndCertificateHashesAreDifferentThings_WithNamedAlgorithms()
    {
        using var cert = SelfSignedCertificate.Create("fp");
        var spki = cert.PublicKey.ExportSubjectPublicKeyInfo();
        Assert.Equal(SHA256.HashData(spki), CertificateFingerprint.OfSpki(cert, HashAlgorithmName.SHA256));
        Assert.Equal(SHA384.HashData(spki), CertificateFingerprint.OfSpki(spki, HashAlgorithmName.SHA384));
        Assert.Equal(SHA256.HashData(cert.RawData), CertificateFingerprint.OfCertificate(cert, HashAlgorithmName.SHA256));
        Assert.Equal(SHA512.HashData(cert.RawData), CertificateFingerprint.OfCertificate(cert.RawData, HashAlgorithmName.SHA512));
        Assert.NotEqual(CertificateFingerprint.OfSpki(cert, HashAlgorithmName.SHA256), CertificateFingerprint.OfCertificate(cert, HashAlgorithmName.SHA256));
        // the OSP agent fingerprint is the SPKI SHA-256 in base64
        Assert.Equal(Convert.ToBase64String(SHA256.HashData(spki)), AgentIdentity.ComputeFingerprint(cert));
        Assert.Throws<CryptoException>(() => CertificateFingerprint.Hash(HashAlgorithmName.MD5, [1]));
    }

    [Fact]
    public void Sdp_FormatParseAndMatch()
    {
        using var cert = SelfSignedCertificate.Create("sdp");
        var sdp = CertificateFingerprint.ToSdp(cert, "SHA-384");
        Assert.StartsWith("sha-384 ", sdp);
        Assert.Equal("sha-384 " + CertificateFingerprint.FormatHex(SHA384.HashData(cert.RawData)), sdp);
        Assert.True(CertificateFingerprint.MatchesSdp(cert, sdp));
        Assert.True(CertificateFingerprint.MatchesSdp(cert, " " + sdp.ToLowerInvariant() + " "));
        Assert.False(CertificateFingerprint.MatchesSdp(cert, sdp[..^1] + (sdp[^1] == '0' ? '1' : '0')));
        Assert.False(CertificateFingerprint.MatchesSdp(cert, "md5 " + sdp[8..]));
        Assert.False(CertificateFingerprint.MatchesSdp(cert, null));
        Assert.Throws<CryptoException>(() => CertificateFingerprint.ToSdp(cert, "md5"));
        Assert.True(CertificateFingerprint.TryGetAlgorithm("Sha-1", out var a) && a == HashAlgorithmName.SHA1);
        Assert.False(CertificateFingerprint.TryGetAlgorithm("sha256", out _));
        Assert.True(CertificateFingerprint.TryParseHex("0a:FF:10", out var b));
        Assert.Equal([0x0A, 0xFF, 0x10], b);
        Assert.False(CertificateFingerprint.TryParseHex("0a:F:10", out _));
        Assert.False(CertificateFingerprint.TryParseHex("0a:GG", out _));
        Assert.False(CertificateFingerprint.TryParseHex(string.Join(':', Enumerable.Repeat("00", 65)), out _));
    }
}
