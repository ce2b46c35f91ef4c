using System.Buffers.Binary;
using System.Runtime.Intrinsics.X86;

namespace OspBridge.WebRtc.Sctp;

/// <summary>
/// CRC32c (Castagnoli, reflected polynomial 0x82F63B78) as used by the SCTP common header (RFC 9260 §6.8,
/// Appendix A; vectors in RFC 3720 B.4). Table-driven slicing-by-8; an SSE 4.2 path is used when the CPU
/// has one (both give identical results, the tests check each).
/// </summary>
internal static class Crc32c
{
    private const uint Polynomial = 0x82F63B78;
    private static readonly uint[] Table = BuildTable();

    private static uint[] BuildTable()
    {
        var t = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++)
            {
                c = (c & 1) != 0 ? (c >> 1) ^ Polynomial : c >> 1;
            }
            t[i] = c;
        }
        for (int i = 0; i < 256; i++)
        {
            for (int s = 1; s < 8; s++)
            {
                uint prev = t[((s - 1) * 256) + i];
                t[(s * 256) + i] = (prev >> 8) ^ t[prev & 0xFF];
            }
        }
        return t;
    }

    /// <summary>CRC32c of <paramref name="data"/> (initial value all ones, final complement).</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Sse42.X64.IsSupported ? ~UpdateSse(0xFFFFFFFF, data) : ~UpdateTable(0xFFFFFFFF, data);

    /// <summary>CRC32c of <paramref name="data"/> by the portable table path only.</summary>
    public static uint ComputeTable(ReadOnlySpan<byte> data) => ~UpdateTable(0xFFFFFFFF, data);

    /// <summary>Continues a raw (not complemented) CRC with the fastest available path.</summary>
    public static uint UpdateTableOrSse(uint crc, ReadOnlySpan<byte> data) => Sse42.X64.IsSupported ? UpdateSse(crc, data) : UpdateTable(crc, data);

    /// <summary>Continues a raw (not complemented) CRC with the portable table path.</summary>
    public static uint UpdateTable(uint crc, ReadOnlySpan<byte> data)
    {
        var t = Table;
        int i = 0;
        while (data.Length - i >= 8)
        {
            uint lo = BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(i)) ^ crc;
            uint hi = BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(i + 4));
            crc = t[(7 * 256) + (lo & 0xFF)] ^ t[(6 * 256) + ((lo >> 8) & 0xFF)] ^ t[(5 * 256) + ((lo >> 16) & 0xFF)] ^ t[(4 * 256) + (lo >> 24)]
                ^ t[(3 * 256) + (hi & 0xFF)] ^ t[(2 * 256) + ((hi >> 8) & 0xFF)] ^ t[256 + ((hi >> 16) & 0xFF)] ^ t[hi >> 24];
            i += 8;
        }
        for (; i < data.Length; i++)
        {
            crc = (crc >> 8) ^ t[(crc ^ data[i]) & 0xFF];
        }
        return crc;
    }

    private static uint UpdateSse(uint crc, ReadOnlySpan<byte> data)
    {
        ulong c = crc;
        int i = 0;
        while (data.Length - i >= 8)
        {
            c = Sse42.X64.Crc32(c, BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(i)));
            i += 8;
        }
        uint r = (uint)c;
        for (; i < data.Length; i++)
        {
            r = Sse42.Crc32(r, data[i]);
        }
        return r;
    }
}
