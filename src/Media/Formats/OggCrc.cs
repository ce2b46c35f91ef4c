namespace OspBridge.Media.Formats;

/// <summary>The Ogg page checksum (RFC 3533 §6): CRC-32, polynomial 0x04C11DB7, not reflected, initial value 0.</summary>
public static class OggCrc
{
    private static readonly uint[] Table = BuildTable();

    /// <summary>Continues a checksum over <paramref name="data"/>.</summary>
    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (byte b in data)
            crc = (crc << 8) ^ Table[(int)(((crc >> 24) ^ b) & 0xFF)];
        return crc;
    }

    private static uint[] BuildTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint r = i << 24;
            for (int j = 0; j < 8; j++)
                r = (r & 0x80000000) != 0 ? (r << 1) ^ 0x04C11DB7 : r << 1;
            table[i] = r;
        }
        return table;
    }
}
