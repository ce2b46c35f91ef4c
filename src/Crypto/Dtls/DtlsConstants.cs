namespace OspBridge.Crypto.Dtls;

/// <summary>TLS/DTLS record content types (RFC 5246 §6.2.1).</summary>
internal static class DtlsContentType
{
    public const byte ChangeCipherSpec = 20;
    public const byte Alert = 21;
    public const byte Handshake = 22;
    public const byte ApplicationData = 23;
}

/// <summary>Handshake message types used by DTLS 1.2 (RFC 5246 §7.4, RFC 6347 §4.3.2).</summary>
internal static class DtlsHandshakeType
{
    public const byte HelloRequest = 0;
    public const byte ClientHello = 1;
    public const byte ServerHello = 2;
    public const byte HelloVerifyRequest = 3;
    public const byte Certificate = 11;
    public const byte ServerKeyExchange = 12;
    public const byte CertificateRequest = 13;
    public const byte ServerHelloDone = 14;
    public const byte CertificateVerify = 15;
    public const byte ClientKeyExchange = 16;
    public const byte Finished = 20;
}

/// <summary>Protocol version numbers on the wire (DTLS counts down: 1.0 = FEFF, 1.2 = FEFD, 1.3 = FEFC).</summary>
internal static class DtlsVersion
{
    public const ushort Dtls10 = 0xFEFF;
    public const ushort Dtls12 = 0xFEFD;
    public const ushort Dtls13 = 0xFEFC;
}

/// <summary>TLS extension code points we read or write.</summary>
internal static class DtlsExtensionType
{
    public const ushort SupportedGroups = 10;
    public const ushort EcPointFormats = 11;
    public const ushort SignatureAlgorithms = 13;
    public const ushort UseSrtp = 14;
    public const ushort ExtendedMasterSecret = 23;
    public const ushort SupportedVersions = 43;
    public const ushort KeyShare = 51;
    public const ushort RenegotiationInfo = 0xFF01;
}

/// <summary>Alert descriptions (RFC 5246 §7.2, RFC 5746, RFC 7301).</summary>
internal static class DtlsAlert
{
    public const byte CloseNotify = 0;
    public const byte UnexpectedMessage = 10;
    public const byte BadRecordMac = 20;
    public const byte RecordOverflow = 22;
    public const byte HandshakeFailure = 40;
    public const byte BadCertificate = 42;
    public const byte UnsupportedCertificate = 43;
    public const byte CertificateUnknown = 46;
    public const byte IllegalParameter = 47;
    public const byte DecodeError = 50;
    public const byte DecryptError = 51;
    public const byte ProtocolVersion = 70;
    public const byte InsufficientSecurity = 71;
    public const byte InternalError = 80;
    public const byte NoRenegotiation = 100;
    public const byte UnsupportedExtension = 110;

    public const byte LevelWarning = 1;
    public const byte LevelFatal = 2;
}
