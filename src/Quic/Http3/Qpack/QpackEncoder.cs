using System.Text;

namespace OspBridge.Quic.Http3.Qpack;

/// <summary>Encodes field sections with the static table and raw (non-Huffman) literals; never uses the dynamic table.</summary>
internal static class QpackEncoder
{
    public static byte[] Encode(IEnumerable<HeaderField> fields)
    {
        var o = new List<byte>(128) { 0, 0 }; // Required Insert Count 0, Base 0
        foreach (var f in fields)
        {
            int exact = QpackStaticTable.FindExact(f.Name, f.Value);
            if (exact >= 0)
            {
                QpackInteger.Write(o, (ulong)exact, 6, 0xC0);
                continue;
            }
            int name = QpackStaticTable.FindName(f.Name);
            if (name >= 0) QpackInteger.Write(o, (ulong)name, 4, 0x50);
            else WriteString(o, f.Name, 3, 0x20);
            WriteString(o, f.Value, 7, 0x00);
        }
        return [.. o];
    }

    private static void WriteString(List<byte> o, string s, int prefixBits, byte flags)
    {
        byte[] b = Encoding.Latin1.GetBytes(s);
        QpackInteger.Write(o, (ulong)b.Length, prefixBits, flags);
        o.AddRange(b);
    }
}
