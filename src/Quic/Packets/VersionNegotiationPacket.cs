using System.Buffers.Binary;

namespace OspBridge.Quic.Packets;

/// <summary>
/// Version Negotiation packet (RFC 9000 §17.2.1):
/// <code>1 x x x x x x x | Version = 0 (32) | DCID Len | DCID | SCID Len | SCID | Supported Version (32) ...</code>
/// The server echoes the client's SCID as DCID and the client's DCID as SCID.
/// </summary>
internal static class VersionNegotiationPacket
{
    public static int Write(Span<byte> dest, ReadOnlySpan<byte> dcid, ReadOnlySpan<byte> scid, ReadOnlySpan<uint> versions, byte random)
    {
        int need = 7 + dcid.Length + scid.Length + 4 * versions.Length;
        if (dest.Length < need) return 0;
        dest[0] = (byte)(0x80 | (random & 0x7f));
        BinaryPrimitives.WriteUInt32BigEndian(dest[1..], 0);
        dest[5] = (byte)dcid.Length; dcid.CopyTo(dest[6..]);
        int p = 6 + dcid.Length;
        dest[p++] = (byte)scid.Length; scid.CopyTo(dest[p..]); p += scid.Length;
        foreach (uint v in versions) { BinaryPrimitives.WriteUInt32BigEndian(dest[p..], v); p += 4; }
        return p;
    }

    /// <summary>True when the supported-version list (after the header) contains <paramref name="version"/>.</summary>
    public static bool Contains(ReadOnlySpan<byte> versionList, uint version)
    {
        for (int i = 0; i + 4 <= versionList.Length; i += 4)
            if (BinaryPrimitives.ReadUInt32BigEndian(versionList[i..]) == version) return true;
        return false;
    }
}
