using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace OspBridge.Crypto.Certificates;

/// <summary>Settings of <see cref="SelfSignedCertificate.Create(string, SelfSignedCertificateOptions?)"/>.</summary>
public sealed record SelfSignedCertificateOptions
{
    /// <summary>Issuer CN; null means the subject (a plain self-signed certificate). OSP agent certificates name the model here.</summary>
    public string? IssuerCommonName { get; init; }

    /// <summary>DNS names of the subjectAltName extension (none: no extension).</summary>
    public IReadOnlyList<string> DnsNames { get; init; } = [];

    /// <summary>IP addresses of the subjectAltName extension (an HTTPS server reached by address).</summary>
    public IReadOnlyList<System.Net.IPAddress> IpAddresses { get; init; } = [];

    /// <summary>How long the certificate is valid from now. Default 30 days (what browsers use for WebRTC).</summary>
    public TimeSpan Validity { get; init; } = TimeSpan.FromDays(30);

    /// <summary>How far notBefore lies before now, to tolerate clock skew. Default one day.</summary>
    public TimeSpan Backdate { get; init; } = TimeSpan.FromDays(1);

    /// <summary>Serial number (big-endian, top bit clear, at most 20 octets); null: 8 random octets.</summary>
    public byte[]? SerialNumber { get; init; }

    /// <summary>
    /// Adds the end-entity extensions of a TLS peer: keyUsage digitalSignature (critical), basicConstraints CA=false
    /// (critical), extendedKeyUsage serverAuth + clientAuth (OSP agent certificates).
    /// </summary>
    public bool EndEntityExtensions { get; init; }

    /// <summary>Clock for the validity period (tests pass a fixed one). Times are truncated to whole seconds (X.509 precision).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}

/// <summary>
/// The one factory of self-signed ECDSA certificates, used by the OSP agent identity, QUIC/HTTP/3 servers and WebRTC
/// (DTLS) peer connections: notBefore = now − <see cref="SelfSignedCertificateOptions.Backdate"/>, notAfter = now +
/// <see cref="SelfSignedCertificateOptions.Validity"/>, signed with ECDSA-SHA256 by the certificate's own key.
/// </summary>
public static class SelfSignedCertificate
{
    private static readonly Oid ServerAuthOid = new("1.3.6.1.5.5.7.3.1");
    private static readonly Oid ClientAuthOid = new("1.3.6.1.5.5.7.3.2");

    /// <summary>Creates a certificate with CN=<paramref name="commonName"/> and a new ECDSA P-256 key (included).</summary>
    public static X509Certificate2 Create(string commonName, SelfSignedCertificateOptions? options = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return Create(key, commonName, options);
    }

    /// <summary>
    /// A TLS/QUIC server certificate: CN and DNS subjectAltName = <paramref name="hostName"/>, new P-256 key, valid from one
    /// minute ago for 13 days (within WebTransport's 14-day rule for certificate hashes).
    /// </summary>
    public static X509Certificate2 CreateTlsServer(string hostName) =>
        Create(hostName, new SelfSignedCertificateOptions { DnsNames = [hostName], Validity = TimeSpan.FromDays(13), Backdate = TimeSpan.FromMinutes(1) });

    /// <summary>Creates a certificate with CN=<paramref name="commonName"/> for an existing ECDSA <paramref name="key"/> (a copy of it is included).</summary>
    public static X509Certificate2 Create(ECDsa key, string commonName, SelfSignedCertificateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(commonName);
        options ??= new SelfSignedCertificateOptions();
        var subject = Name(commonName);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        if (options.EndEntityExtensions)
        {
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, critical: true));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([ServerAuthOid, ClientAuthOid], critical: false));
        }
        if (options.DnsNames.Count > 0 || options.IpAddresses.Count > 0)
        {
            var san = new SubjectAlternativeNameBuilder();
            foreach (var dns in options.DnsNames) san.AddDnsName(dns);
            foreach (var ip in options.IpAddresses) san.AddIpAddress(ip);
            request.CertificateExtensions.Add(san.Build());
        }
        var t = options.TimeProvider.GetUtcNow();
        var now = new DateTimeOffset(t.Year, t.Month, t.Day, t.Hour, t.Minute, t.Second, TimeSpan.Zero);
        var serial = options.SerialNumber ?? RandomSerial();
        var issuer = options.IssuerCommonName is { } i ? Name(i) : subject;
        using var cert = request.Create(issuer, X509SignatureGenerator.CreateForECDsa(key), now - options.Backdate, now + options.Validity, serial);
        var withKey = cert.CopyWithPrivateKey(key);
        if (!OperatingSystem.IsWindows()) return withKey;
        // Windows keeps ephemeral keys unusable for SChannel: round-trip through PKCS#12.
        using (withKey) return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    private static X500DistinguishedName Name(string commonName)
    {
        var b = new X500DistinguishedNameBuilder();
        b.AddCommonName(commonName);
        return b.Build();
    }

    private static byte[] RandomSerial()
    {
        var serial = RandomNumberGenerator.GetBytes(8);
        serial[0] &= 0x7F;
        if (serial[0] == 0) serial[0] = 1; // positive and minimal DER
        return serial;
    }
}
