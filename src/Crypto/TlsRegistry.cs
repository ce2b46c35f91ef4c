namespace OspBridge.Crypto;

/// <summary>TLS named groups (IANA "TLS Supported Groups"; RFC 8422, RFC 8446 §4.2.7), shared by the TLS 1.3 and DTLS 1.2 engines.</summary>
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
