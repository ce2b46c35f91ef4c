namespace OspBridge.Crypto.Tls;

/// <summary>TLS alert descriptions used by the engine (RFC 8446 §6).</summary>
public static class TlsAlert
{
    /// <summary>unexpected_message.</summary>
    public const byte UnexpectedMessage = 10;
    /// <summary>handshake_failure.</summary>
    public const byte HandshakeFailure = 40;
    /// <summary>bad_certificate.</summary>
    public const byte BadCertificate = 42;
    /// <summary>unsupported_certificate.</summary>
    public const byte UnsupportedCertificate = 43;
    /// <summary>illegal_parameter.</summary>
    public const byte IllegalParameter = 47;
    /// <summary>decode_error.</summary>
    public const byte DecodeError = 50;
    /// <summary>decrypt_error.</summary>
    public const byte DecryptError = 51;
    /// <summary>protocol_version.</summary>
    public const byte ProtocolVersion = 70;
    /// <summary>internal_error.</summary>
    public const byte InternalError = 80;
    /// <summary>missing_extension.</summary>
    public const byte MissingExtension = 109;
    /// <summary>unsupported_extension.</summary>
    public const byte UnsupportedExtension = 110;
    /// <summary>certificate_required.</summary>
    public const byte CertificateRequired = 116;
    /// <summary>no_application_protocol.</summary>
    public const byte NoApplicationProtocol = 120;

    internal static CryptoException Decode(string message) => new(CryptoError.Malformed, message, DecodeError);
    internal static CryptoException Illegal(string message) => new(CryptoError.Malformed, message, IllegalParameter);
    internal static CryptoException Unexpected(string message) => new(CryptoError.UnexpectedMessage, message, UnexpectedMessage);
    internal static CryptoException Failure(string message) => new(CryptoError.HandshakeFailure, message, HandshakeFailure);
}

/// <summary>Handshake message types (RFC 8446 §4).</summary>
internal static class HandshakeType
{
    public const byte ClientHello = 1;
    public const byte ServerHello = 2;
    public const byte NewSessionTicket = 4;
    public const byte EndOfEarlyData = 5;
    public const byte EncryptedExtensions = 8;
    public const byte Certificate = 11;
    public const byte CertificateRequest = 13;
    public const byte CertificateVerify = 15;
    public const byte Finished = 20;
    public const byte KeyUpdate = 24;
    public const byte MessageHash = 254;
}

/// <summary>Extension code points (RFC 8446 §4.2, RFC 7301, RFC 9001 §8.2).</summary>
internal static class ExtensionType
{
    public const ushort ServerName = 0;
    public const ushort SupportedGroups = 10;
    public const ushort SignatureAlgorithms = 13;
    public const ushort Alpn = 16;
    public const ushort PreSharedKey = 41;
    public const ushort EarlyData = 42;
    public const ushort SupportedVersions = 43;
    public const ushort Cookie = 44;
    public const ushort PskKeyExchangeModes = 45;
    public const ushort CertificateAuthorities = 47;
    public const ushort SignatureAlgorithmsCert = 50;
    public const ushort KeyShare = 51;
    public const ushort QuicTransportParameters = 0x39;
}

/// <summary>Protocol constants.</summary>
internal static class TlsConst
{
    public const ushort LegacyVersion = 0x0303;
    public const ushort Tls13 = 0x0304;
    /// <summary>Largest handshake message the engine buffers.</summary>
    public const int MaxMessageSize = 64 * 1024;

    /// <summary>SHA-256("HelloRetryRequest"), the ServerHello.random of a HelloRetryRequest (RFC 8446 §4.1.3).</summary>
    public static ReadOnlySpan<byte> HelloRetryRequestRandom =>
    [
        0xCF, 0x21, 0xAD, 0x74, 0xE5, 0x9A, 0x61, 0x11, 0xBE, 0x1D, 0x8C, 0x02, 0x1E, 0x65, 0xB8, 0x91,
        0xC2, 0xA2, 0x11, 0x16, 0x7A, 0xBB, 0x8C, 0x5E, 0x07, 0x9E, 0x09, 0xE2, 0xC8, 0xA8, 0x33, 0x9C,
    ];
}
