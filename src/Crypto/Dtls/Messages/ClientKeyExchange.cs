namespace OspBridge.Crypto.Dtls.Messages;

/// <summary>ClientKeyExchange for ECDHE (RFC 8422 §5.7): <c>ECPoint ecdh_Yc&lt;1..2^8-1&gt;</c> (uncompressed point 04 || X || Y).</summary>
internal static class ClientKeyExchange
{
    public static byte[] Parse(ReadOnlySpan<byte> body)
    {
        var r = new TlsReader(body);
        var point = r.ReadVector8(1).ToArray();
        r.EnsureEnd("ClientKeyExchange");
        return point;
    }

    public static byte[] Serialize(ReadOnlySpan<byte> point)
    {
        var w = new TlsWriter(70);
        w.WriteVector8(point);
        return w.ToArray();
    }
}
