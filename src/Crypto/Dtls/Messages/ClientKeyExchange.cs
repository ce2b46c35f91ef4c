namespace OspBridge.Crypto.Dtls.Messages;

/// <summary>ClientKeyExchange for ECDHE (RFC 8422 §5.7): <c>ECPoint ecdh_Yc&lt;1..2^8-1&gt;</c> (uncompressed point 04 || X || Y).</summary>
internal static class ClientKeyExchange
{
    public static byte[] Parse(ReadOnlySpan<byte> body)
    {
        var r = new DtlsReader(body);
        var point = r.ReadVector8(1).ToArray();
        r.ExpectEnd("ClientKeyExchange");
        return point;
    }

    public static byte[] Serialize(ReadOnlySpan<byte> point)
    {
        var w = new DtlsWriter(70);
        w.Vector8(point);
        return w.ToArray();
    }
}
