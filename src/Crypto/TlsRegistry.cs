namespace OspBridge.Crypto;

// The one registry of TLS code points (IANA "Transport Layer Security (TLS) Parameters" and "TLS ExtensionType
// Values"), shared by the TLS 1.3 engine (QUIC) and the DTLS 1.2 engine (WebRTC). Only code points that one of the
// engines or its tests reads or writes are listed.

/// <summary>Record content types (RFC 5246 §6.2.1, RFC 8446 §5.1; DTLS uses the same values).</summary>
internal static class TlsContentType
{
    public const byte ChangeCipherSpec = 20;
    public const byte Alert = 21;
    public const byte Handshake = 22;
    public const byte ApplicationData = 23;
}

/// <summary>Protocol version numbers on the wire. DTLS counts down: 1.0 = FEFF, 1.2 = FEFD, 1.3 = FEFC.</summary>
internal static class TlsVersion
{
    /// <summary>TLS 1.2; also TLS 1.3's legacy_version (RFC 8446 §4.1.2).</summary>
    public const ushort Tls12 = 0x0303;
    public const ushort Tls13 = 0x0304;
    public const ushort Dtls10 = 0xFEFF;
    public const ushort Dtls12 = 0xFEFD;
    public const ushort Dtls13 = 0xFEFC;
}

/// <summary>Handshake message types of TLS 1.3 (RFC 8446 §4) and TLS/DTLS 1.2 (RFC 5246 §7.4, RFC 6347 §4.3.2).</summary>
internal static class TlsHandshakeType
{
    public const byte HelloRequest = 0;
    public const byte ClientHello = 1;
    public const byte ServerHello = 2;
    public const byte HelloVerifyRequest = 3;
    public const byte NewSessionTicket = 4;
    public const byte EndOfEarlyData = 5;
    public const byte EncryptedExtensions = 8;
    public const byte Certificate = 11;
    public const byte ServerKeyExchange = 12;
    public const byte CertificateRequest = 13;
    public const byte ServerHelloDone = 14;
    public const byte CertificateVerify = 15;
    public const byte ClientKeyExchange = 16;
    public const byte Finished = 20;
    public const byte KeyUpdate = 24;
    public const byte MessageHash = 254;
}

/// <summary>Extension code points (RFC 8446 §4.2, RFC 6066, RFC 4492/8422, RFC 5764, RFC 7301, RFC 7627, RFC 5746, RFC 9001 §8.2).</summary>
internal static class TlsExtensionType
{
    public const ushort ServerName = 0;
    public const ushort SupportedGroups = 10;
    public const ushort EcPointFormats = 11;
    public const ushort SignatureAlgorithms = 13;
    public const ushort UseSrtp = 14;
    public const ushort Alpn = 16;
    public const ushort ExtendedMasterSecret = 23;
    public const ushort PreSharedKey = 41;
    public const ushort EarlyData = 42;
    public const ushort SupportedVersions = 43;
    public const ushort Cookie = 44;
    public const ushort PskKeyExchangeModes = 45;
    public const ushort CertificateAuthorities = 47;
    public const ushort SignatureAlgorithmsCert = 50;
    public const ushort KeyShare = 51;
    public const ushort QuicTransportParameters = 0x39;
    public const ushort RenegotiationInfo = 0xFF01;
}

/// <summary>
/// TLS alert levels and descriptions (RFC 5246 §7.2, RFC 8446 §6, RFC 5746, RFC 7301), for TLS 1.3 and DTLS 1.2.
/// <see cref="CryptoException.Alert"/> holds one of these descriptions.
/// </summary>
public static class TlsAlert
{
    /// <summary>Alert level warning (TLS/DTLS 1.2; TLS 1.3 ignores the level).</summary>
    public const byte LevelWarning = 1;
    /// <summary>Alert level fatal.</summary>
    public const byte LevelFatal = 2;

    /// <summary>close_notify.</summary>
    public const byte CloseNotify = 0;
    /// <summary>unexpected_message.</summary>
    public const byte UnexpectedMessage = 10;
    /// <summary>bad_record_mac.</summary>
    public const byte BadRecordMac = 20;
    /// <summary>record_overflow.</summary>
    public const byte RecordOverflow = 22;
    /// <summary>handshake_failure.</summary>
    public const byte HandshakeFailure = 40;
    /// <summary>bad_certificate.</summary>
    public const byte BadCertificate = 42;
    /// <summary>unsupported_certificate.</summary>
    public const byte UnsupportedCertificate = 43;
    /// <summary>certificate_unknown.</summary>
    public const byte CertificateUnknown = 46;
    /// <summary>illegal_parameter.</summary>
    public const byte IllegalParameter = 47;
    /// <summary>decode_error.</summary>
    public const byte DecodeError = 50;
    /// <summary>decrypt_error.</summary>
    public const byte DecryptError = 51;
    /// <summary>protocol_version.</summary>
    public const byte ProtocolVersion = 70;
    /// <summary>insufficient_security.</summary>
    public const byte InsufficientSecurity = 71;
    /// <summary>internal_error.</summary>
    public const byte InternalError = 80;
    /// <summary>no_renegotiation (TLS 1.2).</summary>
    public const byte NoRenegotiation = 100;
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

/// <summary>TLS named groups (IANA "TLS Supported Groups"; RFC 8422, RFC 8446 §4.2.7).</summary>
internal static class NamedGroup
{
    public const ushort Secp256r1 = 0x0017;
    public const ushort Secp384r1 = 0x0018;
    public const ushort X25519 = 0x001D;
    public const ushort X25519MlKem768 = 0x11EC;
}

/// <summary>
/// Signature schemes (RFC 8446 §4.2.3). TLS 1.2's SignatureAndHashAlgorithm pairs have the same encoding, so the
/// DTLS 1.2 engine uses the same code points.
/// </summary>
internal static class SignatureScheme
{
    public const ushort RsaPkcs1Sha256 = 0x0401;
    public const ushort RsaPkcs1Sha384 = 0x0501;
    public const ushort RsaPkcs1Sha512 = 0x0601;
    public const ushort EcdsaSecp256r1Sha256 = 0x0403;
    public const ushort EcdsaSecp384r1Sha384 = 0x0503;
    public const ushort EcdsaSecp521r1Sha512 = 0x0603;
    public const ushort RsaPssRsaeSha256 = 0x0804;
    public const ushort RsaPssRsaeSha384 = 0x0805;
    public const ushort RsaPssRsaeSha512 = 0x0806;

    /// <summary>TLS 1.3: what we accept for CertificateVerify, in preference order (RSA PKCS#1 is not allowed there).</summary>
    public static readonly ushort[] Supported =
        [EcdsaSecp256r1Sha256, RsaPssRsaeSha256, EcdsaSecp384r1Sha384, RsaPssRsaeSha384, RsaPssRsaeSha512, EcdsaSecp521r1Sha512];

    /// <summary>DTLS 1.2: what we offer for verification (we sign only with <see cref="EcdsaSecp256r1Sha256"/>).</summary>
    public static readonly ushort[] Tls12Verifiable =
    [
        EcdsaSecp256r1Sha256, RsaPssRsaeSha256, RsaPkcs1Sha256, EcdsaSecp384r1Sha384,
        RsaPssRsaeSha384, RsaPkcs1Sha384, RsaPssRsaeSha512, RsaPkcs1Sha512, EcdsaSecp521r1Sha512,
    ];
}
