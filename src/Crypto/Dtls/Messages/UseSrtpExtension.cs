namespace OspBridge.Crypto.Dtls.Messages;

/// <summary>
/// use_srtp extension data (RFC 5764 §4.1.1):
/// <code>SRTPProtectionProfile SRTPProtectionProfiles&lt;2..2^16-1&gt; (uint16 each); opaque srtp_mki&lt;0..255&gt;</code>
/// The server answers with exactly one profile. We never use an MKI.
/// </summary>
internal static class UseSrtpExtension
{
    public static (List<ushort> Profiles, byte[] Mki) Parse(ReadOnlySpan<byte> data)
    {
        var r = new TlsReader(data);
        var v = r.ReadVector16(2);
        if ((v.Length & 1) != 0) throw TlsReader.Fail("use_srtp profiles");
        var list = new List<ushort>(v.Length / 2);
        for (int i = 0; i < v.Length; i += 2) list.Add((ushort)((v[i] << 8) | v[i + 1]));
        var mki = r.ReadVector8().ToArray();
        r.EnsureEnd("use_srtp");
        return (list, mki);
    }

    public static byte[] Serialize(IEnumerable<ushort> profiles)
    {
        var w = new TlsWriter(16);
        int m = w.BeginVector(2);
        foreach (var p in profiles) w.WriteU16(p);
        w.EndVector(m);
        w.WriteU8(0);
        return w.ToArray();
    }
}
