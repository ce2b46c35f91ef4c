using System.Text;

namespace OspBridge.Quic.Http3.Qpack;

// RFC 9204 §4.5 field section, static table only (we advertise SETTINGS_QPACK_MAX_TABLE_CAPACITY = 0):
//   prefix:  Required Insert Count (8-bit prefix int, must be 0) | S + Delta Base (7-bit prefix int)
//   1T xxxxxx            Indexed Field Line (T=1 static)
//   01NT xxxx + value    Literal Field Line with Name Reference (T=1 static)
//   001N H xxx + name + value   Literal Field Line with Literal Name
//   0001 xxxx / 0000 N xxx      post-base (dynamic) forms: refused
//   value/name strings: H bit + 7-bit (value) / 3-bit (name) prefix length, raw or Huffman bytes

/// <summary>Decodes QPACK field sections that reference only the static table.</summary>
internal static class QpackDecoder
{
    /// <summary>Default limit on the decoded field section size (RFC 9114 §4.2.2: sum of name + value + 32 per line).</summary>
    public const int DefaultMaxFieldSectionSize = 64 * 1024;

    public static List<HeaderField> Decode(ReadOnlySpan<byte> section, int maxFieldSectionSize = DefaultMaxFieldSectionSize)
    {
        int pos = 0;
        ulong ric = QpackInteger.Read(section, ref pos, 8);
        if (ric != 0) throw Http3Errors.Qpack("field section references the dynamic table (capacity is 0)");
        QpackInteger.Read(section, ref pos, 7); // Delta Base: irrelevant without a dynamic table
        var fields = new List<HeaderField>();
        long size = 0;
        while (pos < section.Length)
        {
            byte b = section[pos];
            HeaderField field;
            if ((b & 0x80) != 0)
            {
                if ((b & 0x40) == 0) throw Http3Errors.Qpack("dynamic table reference");
                field = Static(QpackInteger.Read(section, ref pos, 6));
            }
            else if ((b & 0x40) != 0)
            {
                if ((b & 0x10) == 0) throw Http3Errors.Qpack("dynamic table name reference");
                string name = Static(QpackInteger.Read(section, ref pos, 4)).Name;
                field = new HeaderField(name, ReadString(section, ref pos, 7, maxFieldSectionSize));
            }
            else if ((b & 0x20) != 0)
            {
                string name = ReadString(section, ref pos, 3, maxFieldSectionSize);
                field = new HeaderField(name, ReadString(section, ref pos, 7, maxFieldSectionSize));
            }
            else throw Http3Errors.Qpack("post-base dynamic table reference");
            size += field.Name.Length + field.Value.Length + 32;
            if (size > maxFieldSectionSize) throw Http3Errors.Error(Http3ErrorCode.ExcessiveLoad, "field section too large");
            fields.Add(field);
        }
        return fields;
    }

    private static HeaderField Static(ulong index) =>
        index < (ulong)QpackStaticTable.Entries.Length ? QpackStaticTable.Entries[index] : throw Http3Errors.Qpack($"static index {index} out of range");

    /// <summary>String literal whose H flag is the bit just above the <paramref name="prefixBits"/>-bit length prefix.</summary>
    private static string ReadString(ReadOnlySpan<byte> data, ref int pos, int prefixBits, int max)
    {
        if (pos >= data.Length) throw Http3Errors.Qpack("truncated string");
        bool huffman = (data[pos] & (1 << prefixBits)) != 0;
        ulong len = QpackInteger.Read(data, ref pos, prefixBits);
        if (len > (ulong)(data.Length - pos)) throw Http3Errors.Qpack("string length exceeds field section");
        var raw = data.Slice(pos, (int)len);
        pos += (int)len;
        // Field values are octets; Latin-1 keeps every byte value round-trippable.
        return huffman ? Encoding.Latin1.GetString(QpackHuffman.Decode(raw, max)) : Encoding.Latin1.GetString(raw);
    }
}
