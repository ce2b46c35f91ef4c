using System.Security.Cryptography;

namespace OspBridge.Crypto.Tls;

/// <summary>
/// The TLS 1.3 key schedule without PSK (RFC 8446 §7.1):
/// <code>
///   early     = HKDF-Extract(0, 0)
///   handshake = HKDF-Extract(Derive-Secret(early, "derived", ""), (EC)DHE)
///   master    = HKDF-Extract(Derive-Secret(handshake, "derived", ""), 0)
///   [c|s] hs traffic = Derive-Secret(handshake, "[c|s] hs traffic", CH..SH)
///   [c|s] ap traffic = Derive-Secret(master, "[c|s] ap traffic", CH..server Finished)
/// </code>
/// </summary>
public sealed class TlsKeySchedule
{
    private byte[]? _handshakeSecret;
    private byte[]? _masterSecret;

    /// <summary>Creates the schedule for a cipher suite.</summary>
    public TlsKeySchedule(Tls13CipherSuite suite)
    {
        Suite = suite;
        Hash = HashFor(suite);
        HashLength = Hash == HashAlgorithmName.SHA384 ? 48 : 32;
    }

    /// <summary>The cipher suite.</summary>
    public Tls13CipherSuite Suite { get; }

    /// <summary>The suite's hash.</summary>
    public HashAlgorithmName Hash { get; }

    /// <summary>Hash.length in bytes.</summary>
    public int HashLength { get; }

    /// <summary>The hash function of a suite.</summary>
    public static HashAlgorithmName HashFor(Tls13CipherSuite suite) =>
        suite == Tls13CipherSuite.Aes256GcmSha384 ? HashAlgorithmName.SHA384 : HashAlgorithmName.SHA256;

    /// <summary>Transcript-Hash of the given bytes with the suite's hash.</summary>
    public byte[] TranscriptHash(ReadOnlySpan<byte> messages) =>
        Hash == HashAlgorithmName.SHA384 ? SHA384.HashData(messages) : SHA256.HashData(messages);

    /// <summary>Derive-Secret(secret, label, transcriptHash) = HKDF-Expand-Label(secret, label, transcriptHash, Hash.length).</summary>
    public byte[] DeriveSecret(ReadOnlySpan<byte> secret, string label, ReadOnlySpan<byte> transcriptHash) =>
        HkdfLabel.ExpandLabel(Hash, secret, label, transcriptHash, HashLength);

    /// <summary>Early Secret without PSK: HKDF-Extract(salt = 0, IKM = 0^Hash.length).</summary>
    public byte[] EarlySecret() => HKDF.Extract(Hash, new byte[HashLength], new byte[HashLength]);

    /// <summary>Sets the (EC)DHE shared secret and computes the Handshake Secret; returns it.</summary>
    public byte[] SetSharedSecret(ReadOnlySpan<byte> sharedSecret)
    {
        byte[] derived = DeriveSecret(EarlySecret(), "derived", TranscriptHash([]));
        _handshakeSecret = HKDF.Extract(Hash, sharedSecret.ToArray(), derived);
        byte[] derived2 = DeriveSecret(_handshakeSecret, "derived", TranscriptHash([]));
        _masterSecret = HKDF.Extract(Hash, new byte[HashLength], derived2);
        return _handshakeSecret;
    }

    /// <summary>The Master Secret (after <see cref="SetSharedSecret"/>).</summary>
    public byte[] MasterSecret => _masterSecret ?? throw new CryptoException(CryptoError.InvalidState, "no shared secret yet");

    /// <summary>The Handshake Secret (after <see cref="SetSharedSecret"/>).</summary>
    public byte[] HandshakeSecret => _handshakeSecret ?? throw new CryptoException(CryptoError.InvalidState, "no shared secret yet");

    /// <summary>client/server handshake traffic secrets for Transcript-Hash(ClientHello..ServerHello).</summary>
    public (byte[] Client, byte[] Server) HandshakeTrafficSecrets(ReadOnlySpan<byte> helloHash) =>
        (DeriveSecret(HandshakeSecret, "c hs traffic", helloHash), DeriveSecret(HandshakeSecret, "s hs traffic", helloHash));

    /// <summary>client/server application traffic secrets for Transcript-Hash(ClientHello..server Finished).</summary>
    public (byte[] Client, byte[] Server) ApplicationTrafficSecrets(ReadOnlySpan<byte> serverFinishedHash) =>
        (DeriveSecret(MasterSecret, "c ap traffic", serverFinishedHash), DeriveSecret(MasterSecret, "s ap traffic", serverFinishedHash));

    /// <summary>Finished verify_data = HMAC(HKDF-Expand-Label(baseKey, "finished", "", Hash.length), transcriptHash).</summary>
    public byte[] FinishedVerifyData(ReadOnlySpan<byte> baseKey, ReadOnlySpan<byte> transcriptHash)
    {
        byte[] finishedKey = HkdfLabel.ExpandLabel(Hash, baseKey, "finished", [], HashLength);
        return Hash == HashAlgorithmName.SHA384 ? HMACSHA384.HashData(finishedKey, transcriptHash) : HMACSHA256.HashData(finishedKey, transcriptHash);
    }
}
