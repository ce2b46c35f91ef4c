namespace OspBridge.Crypto.Dtls.Messages;

/// <summary>
/// ServerKeyExchange for ECDHE_ECDSA (RFC 8422 §5.4):
/// <code>
/// ServerECDHParams params = ECCurveType curve_type (1) = named_curve(3) | NamedCurve (2) | ECPoint public&lt;1..2^8-1&gt;
/// DigitallySigned signed_params = SignatureAndHashAlgorithm (2) | opaque signature&lt;0..2^16-1&gt;
/// </code>
/// The signature covers client_random || server_random || params.
/// </summary>
internal sealed class ServerKeyExchange
{
    public const byte NamedCurveType = 3;

    public ushort Group { get; set; }
    public byte[] PublicKey { get; set; } = [];
    public ushort SignatureScheme { get; set; }
    public byte[] Signature { get; set; } = [];

    /// <summary>The encoded ServerECDHParams (what gets signed after the two randoms).</summary>
    public byte[] ParamsBytes()
    {
        var w = new TlsWriter(80);
        w.WriteU8(NamedCurveType);
        w.WriteU16(Group);
        w.WriteVector8(PublicKey);
        return w.ToArray();
    }

    public static ServerKeyExchange Parse(ReadOnlySpan<byte> body)
    {
        var r = new TlsReader(body);
        if (r.ReadU8() != NamedCurveType) throw new CryptoException(CryptoError.HandshakeFailure, "DTLS: ServerKeyExchange curve_type is not named_curve", TlsAlert.IllegalParameter);
        var m = new ServerKeyExchange { Group = r.ReadU16(), PublicKey = r.ReadVector8(1).ToArray() };
        m.SignatureScheme = r.ReadU16();
        m.Signature = r.ReadVector16(1).ToArray();
        r.EnsureEnd("ServerKeyExchange");
        return m;
    }

    public byte[] Serialize()
    {
        var w = new TlsWriter(180);
        w.WriteBytes(ParamsBytes());
        w.WriteU16(SignatureScheme);
        w.WriteVector16(Signature);
        return w.ToArray();
    }
}
