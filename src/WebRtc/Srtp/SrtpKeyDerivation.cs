using System.Security.Cryptography;

namespace OspBridge.WebRtc.Srtp;

/// <summary>
/// The SRTP key derivation function (RFC 3711 §4.3.1 and §4.3.3) with key_derivation_rate 0: the AES-CM PRF keyed
/// with the master key over <c>(label ‖ 0⁴⁸) XOR master_salt</c>, times 2¹⁶. A 12-octet (AEAD, RFC 7714 §11) master
/// salt is right-padded with zeros to 14 octets first.
/// </summary>
internal static class SrtpKeyDerivation
{
    public const byte RtpEncryption = 0x00;
    public const byte RtpAuthentication = 0x01;
    public const byte RtpSalt = 0x02;
    public const byte RtcpEncryption = 0x03;
    public const byte RtcpAuthentication = 0x04;
    public const byte RtcpSalt = 0x05;

    /// <summary>Derives <paramref name="output"/>.Length octets for <paramref name="label"/>.</summary>
    public static void Derive(ReadOnlySpan<byte> masterKey, ReadOnlySpan<byte> masterSalt, byte label, Span<byte> output)
    {
        if (masterSalt.Length is not (12 or 14))
            throw new WebRtcException(WebRtcError.InvalidArgument, "SRTP master salt must be 12 or 14 octets");
        Span<byte> iv = stackalloc byte[16];
        iv.Clear();
        masterSalt.CopyTo(iv);
        iv[7] ^= label;
        using var aes = Aes.Create();
        aes.Key = masterKey.ToArray();
        AesCounterMode.Keystream(aes, iv, output);
    }
}
