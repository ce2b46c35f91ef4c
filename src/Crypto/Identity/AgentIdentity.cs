using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using OspBridge.Crypto.Certificates;
using OspBridge.Crypto.Storage;

namespace OspBridge.Crypto.Identity;

/// <summary>Settings for <see cref="AgentIdentity"/>.</summary>
public sealed record AgentIdentityOptions
{
    /// <summary>Issuer CN of the agent certificate: the agent-info <c>model-name</c>.</summary>
    public string ModelName { get; init; } = "OspBridge";

    /// <summary>Lifetime of a new agent certificate. The OSP spec sets none; we choose one year.</summary>
    public TimeSpan Validity { get; init; } = TimeSpan.FromDays(365);

    /// <summary>A certificate with less than this left is reissued (same key, counter + 1) on load.</summary>
    public TimeSpan RenewBefore { get; init; } = TimeSpan.FromDays(30);

    /// <summary>Clock used for certificate validity (tests pass a fixed one).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}

/// <summary>
/// The OSP agent identity (Open Screen Network Protocol §"Agent certificates"): a P-256 key, a self-signed
/// X.509 v3 agent certificate, the agent fingerprint (base64 SHA-256 of the SubjectPublicKeyInfo), the
/// certificate serial number (128-bit per-agent base ‖ 32-bit counter), the agent hostname and the
/// <c>at</c> auth-initiation token — persisted in a state directory.
/// </summary>
/// <remarks>
/// The serial number is 160 bits as the spec says, but the top bit of the base is always cleared so the
/// positive DER INTEGER fits RFC 5280's 20-octet limit (a set top bit would need a 21st sign octet).
/// The hostname uses base64url without padding for the serial, since standard base64's <c>+/=</c> are
/// invalid in DNS labels (OSP issue #365); go-lp2p makes the same choice.
/// </remarks>
public sealed class AgentIdentity : IDisposable
{
    /// <summary>Length of a serial number in octets (128-bit base + 32-bit counter).</summary>
    public const int SerialLength = 20;

    /// <summary>Length of the <c>at</c> token in characters (16 × 6 bits = 96 bits of entropy).</summary>
    public const int AuthTokenLength = 16;

    internal const string KeyFileName = "agent-key.pem";
    internal const string CertFileName = "agent-cert.pem";
    internal const string StateFileName = "agent.json";
    internal const string LockFileName = "agent.lock";

    private const string AuthTokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    private readonly ECDsa _key;
    private readonly byte[] _serialBase; // 16 bytes, top bit clear
    private readonly AgentIdentityOptions _options;
    private readonly string? _stateDirectory;
    private byte[]? _keyFileSha256; // SHA-256 of agent-key.pem as stored; recorded in agent.json (the manifest)

    private AgentIdentity(ECDsa key, byte[] serialBase, uint counter, string authToken, string instanceName,
        X509Certificate2 certificate, AgentIdentityOptions options, string? stateDirectory)
    {
        _key = key;
        _serialBase = serialBase;
        Counter = counter;
        AuthToken = authToken;
        InstanceName = instanceName;
        Certificate = certificate;
        _options = options;
        _stateDirectory = stateDirectory;
        Fingerprint = ComputeFingerprint(certificate);
    }

    /// <summary>The agent fingerprint: base64 (standard alphabet, padded) of SHA-256 over the DER SubjectPublicKeyInfo; 44 characters.</summary>
    public string Fingerprint { get; }

    /// <summary>The agent certificate with its private key.</summary>
    public X509Certificate2 Certificate { get; private set; }

    /// <summary>The counter part of the current serial number (incremented before each new certificate).</summary>
    public uint Counter { get; private set; }

    /// <summary>The DNS-SD instance name the hostname and certificate were made for.</summary>
    public string InstanceName { get; private set; }

    /// <summary>The <c>at</c> auth-initiation token advertised in TXT (charset [A-Za-z0-9+/]); changed by <see cref="RotateAuthToken"/>.</summary>
    public string AuthToken { get; private set; }

    /// <summary>The issuer CN (agent-info model-name).</summary>
    public string ModelName => _options.ModelName;

    /// <summary>Certificate expiry.</summary>
    public DateTimeOffset NotAfter => new(Certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);

    /// <summary>The 20-octet serial number (big-endian): base ‖ counter. A fresh copy on each call.</summary>
    public byte[] SerialNumber => BuildSerial(_serialBase, Counter);

    /// <summary>The serial number in base64url without padding (the <c>sn</c> TXT value and hostname label).</summary>
    public string SerialBase64Url => Base64Url(BuildSerial(_serialBase, Counter));

    /// <summary>The agent hostname: base64url(serial) + "." + instance name with non-[A-Za-z0-9-] mapped to "-" + ".local".</summary>
    public string Hostname => MakeHostname(BuildSerial(_serialBase, Counter), InstanceName);

    /// <summary>The state directory this identity is persisted in, or null for an ephemeral one.</summary>
    public string? StateDirectory => _stateDirectory;

    /// <summary>
    /// Loads the identity from <paramref name="stateDirectory"/>, creating it when the directory holds none.
    /// A new certificate (same key, counter + 1) is issued when the instance name changed or expiry is near.
    /// A corrupt, truncated or partial state gives <see cref="CryptoException"/> with <see cref="CryptoError.CorruptState"/>;
    /// it is never silently replaced by a new identity. State other users could change (a group/world-writable
    /// directory or file) or read (the private key) gives <see cref="CryptoError.InsecureState"/> (see <see cref="StatePermissions"/>).
    /// </summary>
    /// <remarks>
    /// Runs under the state lock (<c>agent.lock</c>, <see cref="StateLock"/>), so concurrent runs on a fresh
    /// directory, in one process or several, end with one identity. The files are committed as a set:
    /// <c>agent-key.pem</c> and <c>agent-cert.pem</c> first, then <c>agent.json</c> — the manifest, written last,
    /// carrying the SHA-256 of the key file. No <c>agent.json</c> means no identity was ever committed; a key
    /// without it (creation interrupted, or the manifest deleted) is a <see cref="CryptoError.CorruptState"/>
    /// error rather than a silent new key, and a key that does not match the manifest is one too. A certificate
    /// left newer than the manifest by an interrupted renewal is detected (serial mismatch) and reissued.
    /// </remarks>
    /// <param name="stateDirectory">Directory for the state files (created with mode 0700).</param>
    /// <param name="instanceName">DNS-SD instance name; null keeps the stored one (or the machine name for a new identity).</param>
    /// <param name="options">Model name, validity and clock.</param>
    public static AgentIdentity LoadOrCreate(string stateDirectory, string? instanceName = null, AgentIdentityOptions? options = null)
    {
        options ??= new AgentIdentityOptions();
        ArgumentException.ThrowIfNullOrEmpty(stateDirectory);
        StatePermissions.Prepare(stateDirectory);
        using var stateLock = StateLock.Acquire(Path.Combine(stateDirectory, LockFileName));
        foreach (var f in new[] { KeyFileName, CertFileName, StateFileName })
            StateFileWriter.RemoveStaleTempFiles(stateDirectory, f);
        var keyPath = Path.Combine(stateDirectory, KeyFileName);
        var statePath = Path.Combine(stateDirectory, StateFileName);
        var certPath = Path.Combine(stateDirectory, CertFileName);
        bool hasKey = File.Exists(keyPath), hasState = File.Exists(statePath);
        if (!hasKey && !hasState)
        {
            var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var serialBase = RandomNumberGenerator.GetBytes(16);
            serialBase[0] &= 0x7F;
            if (serialBase.AsSpan().IndexOfAnyExcept((byte)0) < 0) serialBase[15] = 1;
            var at = RandomNumberGenerator.GetString(AuthTokenAlphabet, AuthTokenLength);
            var name = NormalizeInstanceName(instanceName ?? Environment.MachineName);
            var cert = IssueCertificate(key, serialBase, 0, name, options);
            var id = new AgentIdentity(key, serialBase, 0, at, name, cert, options, stateDirectory);
            id.PersistLocked(writeKey: true);
            return id;
        }
        if (!hasKey || !hasState)
            throw Corrupt(stateDirectory, $"only one of {KeyFileName} and {StateFileName} exists (partial state: an interrupted creation or a deleted file)");

        var stored = AgentStateFile.Parse(ReadAllTextLimited(statePath), statePath);
        var keyText = ReadAllTextLimited(keyPath, isPrivateKey: true);
        var keyDigest = SHA256.HashData(Encoding.UTF8.GetBytes(keyText));
        if (stored.KeySha256 is { } want && !CryptographicOperations.FixedTimeEquals(want, keyDigest))
            throw Corrupt(stateDirectory, $"{KeyFileName} does not match the keySha256 recorded in {StateFileName} (the key was replaced)");
        ECDsa loadedKey;
        try
        {
            loadedKey = ECDsa.Create();
            loadedKey.ImportFromPem(keyText);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            throw Corrupt(stateDirectory, $"{KeyFileName} is not a valid PEM private key ({ex.Message})");
        }
        if (loadedKey.KeySize != 256 || loadedKey.ExportParameters(false).Curve.Oid?.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
            throw Corrupt(stateDirectory, $"{KeyFileName} is not a P-256 key");

        var wantName = NormalizeInstanceName(instanceName ?? stored.InstanceName);
        X509Certificate2? storedCert = null;
        if (File.Exists(certPath))
        {
            try
            {
                using var pub = X509Certificate2.CreateFromPem(ReadAllTextLimited(certPath));
                storedCert = pub.CopyWithPrivateKey(loadedKey);
            }
            catch (Exception ex) when (ex is CryptographicException or ArgumentException)
            {
                throw Corrupt(stateDirectory, $"{CertFileName} is not a valid certificate for the stored key ({ex.Message})");
            }
        }
        var identityOptions = options with { ModelName = stored.ModelName ?? options.ModelName };
        var now = options.TimeProvider.GetUtcNow();
        bool reissue = storedCert is null
            || !string.Equals(wantName, stored.InstanceName, StringComparison.Ordinal)
            || storedCert.NotAfter.ToUniversalTime() - now.UtcDateTime < options.RenewBefore
            || !SameInteger(storedCert.SerialNumberBytes.Span, BuildSerial(stored.SerialBase, stored.Counter));
        if (!reissue)
            return new AgentIdentity(loadedKey, stored.SerialBase, stored.Counter, stored.AuthToken, wantName, storedCert!, identityOptions, stateDirectory) { _keyFileSha256 = keyDigest };

        storedCert?.Dispose();
        if (stored.Counter == uint.MaxValue)
            throw Corrupt(stateDirectory, $"{StateFileName}: counter is {uint.MaxValue}, so no serial number is left for a new certificate");
        uint counter = stored.Counter + 1;
        var newCert = IssueCertificate(loadedKey, stored.SerialBase, counter, wantName, identityOptions);
        var renewed = new AgentIdentity(loadedKey, stored.SerialBase, counter, stored.AuthToken, wantName, newCert, identityOptions, stateDirectory) { _keyFileSha256 = keyDigest };
        renewed.PersistLocked(writeKey: false);
        return renewed;
    }

    /// <summary>Creates an identity that lives only in memory (tests, one-shot tools).</summary>
    public static AgentIdentity CreateEphemeral(string instanceName, AgentIdentityOptions? options = null)
    {
        options ??= new AgentIdentityOptions();
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var serialBase = RandomNumberGenerator.GetBytes(16);
        serialBase[0] &= 0x7F;
        serialBase[15] |= 1;
        var name = NormalizeInstanceName(instanceName);
        var at = RandomNumberGenerator.GetString(AuthTokenAlphabet, AuthTokenLength);
        return new AgentIdentity(key, serialBase, 0, at, name, IssueCertificate(key, serialBase, 0, name, options), options, null);
    }

    /// <summary>Creates an identity from fixed parts (golden-value tests).</summary>
    internal static AgentIdentity FromParts(ECDsa key, byte[] serialBase, uint counter, string authToken, string instanceName, AgentIdentityOptions options)
    {
        if (serialBase.Length != 16 || (serialBase[0] & 0x80) != 0)
            throw new ArgumentException("serial base must be 16 bytes with the top bit clear", nameof(serialBase));
        var name = NormalizeInstanceName(instanceName);
        return new AgentIdentity(key, serialBase, counter, authToken, name, IssueCertificate(key, serialBase, counter, name, options), options, null);
    }

    /// <summary>
    /// Switches to a new instance name (e.g. after an mDNS rename): issues a new certificate with the
    /// counter incremented (same key, so the fingerprint is unchanged) and persists it.
    /// </summary>
    public void Rename(string instanceName)
    {
        var name = NormalizeInstanceName(instanceName);
        if (string.Equals(name, InstanceName, StringComparison.Ordinal)) return;
        uint counter = checked(Counter + 1);
        var cert = IssueCertificate(_key, _serialBase, counter, name, _options);
        var old = Certificate;
        Certificate = cert;
        Counter = counter;
        InstanceName = name;
        old.Dispose();
        if (_stateDirectory is not null)
        {
            using var stateLock = StateLock.Acquire(Path.Combine(_stateDirectory, LockFileName));
            PersistLocked(writeKey: false);
        }
    }

    /// <summary>
    /// Replaces the <c>at</c> token with a fresh random one (the key, certificate and fingerprint stay) and persists it:
    /// after repeated authentication failures the advertiser rotates its token so that whoever learnt the old one
    /// must rediscover the agent (Open Screen Network Protocol, Authentication). Returns the new token.
    /// </summary>
    public string RotateAuthToken()
    {
        string old = AuthToken;
        string at;
        do
        {
            at = RandomNumberGenerator.GetString(AuthTokenAlphabet, AuthTokenLength);
        }
        while (at == old);
        AuthToken = at;
        if (_stateDirectory is not null)
        {
            using var stateLock = StateLock.Acquire(Path.Combine(_stateDirectory, LockFileName));
            PersistLocked(writeKey: false);
        }
        return at;
    }

    /// <summary>Computes the agent fingerprint of a certificate: base64(SHA-256(DER SubjectPublicKeyInfo)).</summary>
    public static string ComputeFingerprint(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Convert.ToBase64String(CertificateFingerprint.OfSpki(certificate, HashAlgorithmName.SHA256));
    }

    /// <summary>Computes the agent fingerprint of a DER SubjectPublicKeyInfo.</summary>
    public static string ComputeFingerprint(ReadOnlySpan<byte> subjectPublicKeyInfo) =>
        Convert.ToBase64String(CertificateFingerprint.OfSpki(subjectPublicKeyInfo, HashAlgorithmName.SHA256));

    /// <summary>Maps one DNS label for the agent hostname: every character outside [A-Za-z0-9-] becomes "-".</summary>
    public static string MapLabel(string label)
    {
        ArgumentNullException.ThrowIfNull(label);
        var sb = new StringBuilder(label.Length);
        foreach (char c in label)
            sb.Append(c is (>= 'A' and <= 'Z') or (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-' ? c : '-');
        return sb.ToString();
    }

    /// <summary>Builds an agent hostname from a serial number and an instance name.</summary>
    public static string MakeHostname(ReadOnlySpan<byte> serial, string instanceName) =>
        Base64Url(serial) + "." + MapLabel(instanceName) + ".local";

    /// <summary>base64url (RFC 4648 §5) without padding.</summary>
    public static string Base64Url(ReadOnlySpan<byte> data) =>
        Convert.ToBase64String(data).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>Disposes the key and certificate.</summary>
    public void Dispose()
    {
        Certificate.Dispose();
        _key.Dispose();
    }

    private static string NormalizeInstanceName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        name = name.Trim();
        if (name.Length == 0) throw new ArgumentException("instance name is empty", nameof(name));
        if (Encoding.UTF8.GetByteCount(name) > 63) throw new ArgumentException("instance name exceeds 63 UTF-8 octets", nameof(name));
        return name;
    }

    private static byte[] BuildSerial(ReadOnlySpan<byte> serialBase, uint counter)
    {
        var serial = new byte[SerialLength];
        serialBase.CopyTo(serial);
        BinaryPrimitives.WriteUInt32BigEndian(serial.AsSpan(16), counter);
        return serial;
    }

    /// <summary>Compares two big-endian unsigned integers ignoring leading zero octets (DER drops them).</summary>
    private static bool SameInteger(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        int ia = a.IndexOfAnyExcept((byte)0), ib = b.IndexOfAnyExcept((byte)0);
        return (ia < 0 ? [] : a[ia..]).SequenceEqual(ib < 0 ? [] : b[ib..]);
    }

    private static X509Certificate2 IssueCertificate(ECDsa key, byte[] serialBase, uint counter, string instanceName, AgentIdentityOptions options)
    {
        var serial = BuildSerial(serialBase, counter);
        var hostname = MakeHostname(serial, instanceName);
        // One hour back tolerates small skews; whole seconds keep the DER stable for a fixed clock.
        return SelfSignedCertificate.Create(key, hostname, new SelfSignedCertificateOptions
        {
            IssuerCommonName = options.ModelName,
            DnsNames = [hostname],
            Validity = options.Validity,
            Backdate = TimeSpan.FromHours(1),
            SerialNumber = serial,
            EndEntityExtensions = true,
            TimeProvider = options.TimeProvider,
        });
    }

    /// <summary>Writes the set (key, certificate, then the manifest agent.json last); the caller holds the state lock.</summary>
    private void PersistLocked(bool writeKey)
    {
        var dir = _stateDirectory!;
        if (writeKey)
        {
            var pem = _key.ExportPkcs8PrivateKeyPem();
            StateFileWriter.Write(Path.Combine(dir, KeyFileName), pem);
            _keyFileSha256 = SHA256.HashData(Encoding.UTF8.GetBytes(pem));
        }
        StateFileWriter.Write(Path.Combine(dir, CertFileName), Certificate.ExportCertificatePem());
        StateFileWriter.Write(Path.Combine(dir, StateFileName),
            AgentStateFile.Format(new AgentStateFile(_serialBase, Counter, AuthToken, InstanceName, _options.ModelName) { KeySha256 = _keyFileSha256 }));
    }

    private static string ReadAllTextLimited(string path, bool isPrivateKey = false)
    {
        StatePermissions.CheckFile(path, isPrivateKey);
        var info = new FileInfo(path);
        if (info.Length > 64 * 1024) throw Corrupt(Path.GetDirectoryName(path)!, $"{info.Name} is implausibly large ({info.Length} bytes)");
        return File.ReadAllText(path);
    }

    internal static CryptoException Corrupt(string dir, string what) =>
        new(CryptoError.CorruptState, $"agent state in '{dir}' is unusable: {what.TrimEnd('.')}. Move the directory away to create a new identity (this changes the agent fingerprint).");

    /// <summary>Big-endian serial as a non-negative integer (for display).</summary>
    internal BigInteger SerialAsInteger => new(SerialNumber, isUnsigned: true, isBigEndian: true);
}
