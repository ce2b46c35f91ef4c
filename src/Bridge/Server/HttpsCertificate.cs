using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using OspBridge.Crypto.Certificates;
using OspBridge.Crypto.Identity;

namespace OspBridge.Bridge.Server;

/// <summary>
/// The certificate of <c>ospbridge serve --https</c>: self-signed with the bridge's <b>agent key</b> (so its SPKI
/// SHA-256 — what Chromium's <c>--ignore-certificate-errors-spki-list</c> takes — is the bridge's agent fingerprint
/// shown by <c>GET /api/bridge</c>), subjectAltName = the bind address (every local address when binding to any),
/// <c>localhost</c>, the host name and <c>&lt;host&gt;.local</c>; valid 397 days. Kept in
/// <c>&lt;state-dir&gt;/bridge/https-cert.pem</c> and reused while its names still fit and it has 30 days left, so
/// a browser that trusted it keeps trusting it across restarts.
/// </summary>
internal static class HttpsCertificate
{
    /// <summary>The file (PEM, certificate only: the key is the agent's).</summary>
    public const string FileName = "https-cert.pem";

    private static readonly TimeSpan Validity = TimeSpan.FromDays(397);
    private static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);

    /// <summary>Loads the kept certificate or makes a new one (and keeps it).</summary>
    /// <exception cref="CliException">The agent identity has no usable private key.</exception>
    public static X509Certificate2 LoadOrCreate(AgentIdentity identity, string stateDirectory, IPAddress bind, TimeProvider time)
    {
        using var key = identity.Certificate.GetECDsaPrivateKey() ?? throw new CliException("the agent identity has no ECDSA private key");
        var (dns, ips) = Names(bind);
        string dir = Path.Combine(stateDirectory, "bridge");
        string path = Path.Combine(dir, FileName);
        var wanted = San(dns, ips);
        if (File.Exists(path))
        {
            try
            {
                using var stored = X509Certificate2.CreateFromPem(File.ReadAllText(path));
                bool sameKey = stored.PublicKey.ExportSubjectPublicKeyInfo().AsSpan().SequenceEqual(identity.Certificate.PublicKey.ExportSubjectPublicKeyInfo());
                bool fresh = stored.NotAfter.ToUniversalTime() - RenewBefore > time.GetUtcNow().UtcDateTime;
                var san = stored.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();
                if (sameKey && fresh && san is not null && san.RawData.AsSpan().SequenceEqual(wanted.RawData))
                    return stored.CopyWithPrivateKey(key);
            }
            catch (CryptographicException)
            {
                // unreadable: make a new one
            }
        }
        var created = SelfSignedCertificate.Create(key, dns[0], new SelfSignedCertificateOptions
        {
            DnsNames = dns,
            IpAddresses = ips,
            Validity = Validity,
            Backdate = TimeSpan.FromMinutes(5),
            EndEntityExtensions = true,
            TimeProvider = time,
        });
        Directory.CreateDirectory(dir);
        File.WriteAllText(path, created.ExportCertificatePem() + "\n");
        return created;
    }

    /// <summary>SHA-256 of the certificate, <c>AB:CD:…</c> (what browsers show).</summary>
    public static string Sha256(X509Certificate2 certificate) =>
        string.Join(':', certificate.GetCertHash(HashAlgorithmName.SHA256).Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>Base64 SHA-256 of the certificate's SubjectPublicKeyInfo (= the agent fingerprint; Chromium's SPKI list format).</summary>
    public static string SpkiSha256(X509Certificate2 certificate) =>
        Convert.ToBase64String(SHA256.HashData(certificate.PublicKey.ExportSubjectPublicKeyInfo()));

    /// <summary>The names a client may use for the bridge.</summary>
    internal static (List<string> Dns, List<IPAddress> Ips) Names(IPAddress bind)
    {
        var dns = new List<string> { "localhost" };
        string host = Dns.GetHostName();
        if (IsDnsName(host))
        {
            dns.Insert(0, host);
            if (!host.EndsWith(".local", StringComparison.OrdinalIgnoreCase) && !host.Contains('.', StringComparison.Ordinal)) dns.Add(host + ".local");
        }
        var ips = new List<IPAddress>();
        if (bind.Equals(IPAddress.Any) || bind.Equals(IPAddress.IPv6Any))
        {
            foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
            {
                if (nic.OperationalStatus != OperationalStatus.Up && nic.NetworkInterfaceType != NetworkInterfaceType.Loopback) continue;
                foreach (var a in nic.GetIPProperties().UnicastAddresses)
                {
                    var ip = a.Address;
                    if (ip.AddressFamily == AddressFamily.InterNetworkV6 && ip.IsIPv6LinkLocal) continue;
                    if (bind.AddressFamily == AddressFamily.InterNetwork && ip.AddressFamily != AddressFamily.InterNetwork) continue;
                    if (ip.AddressFamily == AddressFamily.InterNetworkV6) ip = new IPAddress(ip.GetAddressBytes());
                    if (!ips.Contains(ip)) ips.Add(ip);
                }
            }
        }
        else
        {
            ips.Add(bind);
        }
        if (!ips.Contains(IPAddress.Loopback) && (bind.Equals(IPAddress.Any) || IPAddress.IsLoopback(bind))) ips.Add(IPAddress.Loopback);
        ips.Sort((a, b) => string.CompareOrdinal(a.ToString(), b.ToString()));
        return (dns.Distinct(StringComparer.OrdinalIgnoreCase).ToList(), ips);
    }

    private static X509Extension San(List<string> dns, List<IPAddress> ips)
    {
        var b = new SubjectAlternativeNameBuilder();
        foreach (var d in dns) b.AddDnsName(d);
        foreach (var ip in ips) b.AddIpAddress(ip);
        return b.Build();
    }

    private static bool IsDnsName(string host) =>
        host.Length is > 0 and <= 253 && host.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.') && !host.StartsWith('-');
}
