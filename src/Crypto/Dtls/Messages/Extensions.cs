namespace OspBridge.Crypto.Dtls.Messages;

/// <summary>
/// Hello extensions (RFC 5246 §7.4.1.4): <c>Extension extensions&lt;0..2^16-1&gt;</c>, each
/// <c>extension_type (16) | extension_data&lt;0..2^16-1&gt;</c>. Kept as raw (type, data) pairs in wire order.
/// </summary>
internal static class HelloExtensions
{
    public const int MaxCount = 64;

    public static List<(ushort Type, byte[] Data)> Read(ref DtlsReader r)
    {
        var list = new List<(ushort, byte[])>();
        if (r.IsEmpty) return list; // extensions block absent
        var block = new DtlsReader(r.ReadVector16());
        while (!block.IsEmpty)
        {
            ushort type = block.ReadU16();
            var data = block.ReadVector16();
            foreach (var (t, _) in list)
                if (t == type) throw DtlsReader.Fail("hello (duplicate extension)");
            if (list.Count >= MaxCount) throw DtlsReader.Fail("hello (too many extensions)");
            list.Add((type, data.ToArray()));
        }
        return list;
    }

    public static void Write(DtlsWriter w, IReadOnlyList<(ushort Type, byte[] Data)> extensions)
    {
        int m = w.BeginLength(2);
        foreach (var (type, data) in extensions)
        {
            w.U16(type);
            w.Vector16(data);
        }
        w.EndLength(m);
    }

    public static byte[]? Find(IReadOnlyList<(ushort Type, byte[] Data)> extensions, ushort type)
    {
        foreach (var (t, d) in extensions)
            if (t == type) return d;
        return null;
    }

    /// <summary>Parses a <c>uint16 list&lt;2..2^16-2&gt;</c> (supported_groups, signature_algorithms).</summary>
    public static List<ushort> ReadU16List(ReadOnlySpan<byte> data, string what)
    {
        var r = new DtlsReader(data);
        var v = r.ReadVector16(2, 0xFFFE);
        if ((v.Length & 1) != 0) throw DtlsReader.Fail(what);
        r.ExpectEnd(what);
        var list = new List<ushort>(v.Length / 2);
        for (int i = 0; i < v.Length; i += 2) list.Add((ushort)((v[i] << 8) | v[i + 1]));
        return list;
    }

    public static byte[] U16List(IEnumerable<ushort> values)
    {
        var w = new DtlsWriter(64);
        int m = w.BeginLength(2);
        foreach (var v in values) w.U16(v);
        w.EndLength(m);
        return w.ToArray();
    }
}
