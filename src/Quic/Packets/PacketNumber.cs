namespace OspBridge.Quic.Packets;

/// <summary>Packet number truncation and recovery (RFC 9000 §17.1, Appendix A.2/A.3).</summary>
internal static class PacketNumber
{
    /// <summary>Bytes needed to encode <paramref name="pn"/> given the largest acknowledged (or -1 when none).</summary>
    public static int EncodedLength(ulong pn, long largestAcked)
    {
        ulong unacked = largestAcked < 0 ? pn + 1 : pn - (ulong)largestAcked;
        // need at least 2 * unacked + 1 values
        if (unacked < (1UL << 7)) return 1;
        if (unacked < (1UL << 15)) return 2;
        if (unacked < (1UL << 23)) return 3;
        return 4;
    }

    public static void Write(Span<byte> dest, ulong pn, int length)
    {
        for (int i = 0; i < length; i++) dest[i] = (byte)(pn >> (8 * (length - 1 - i)));
    }

    /// <summary>Recovers a full packet number from its truncated form (RFC 9000 Appendix A.3).</summary>
    public static ulong Decode(long largestPn, ulong truncated, int bits)
    {
        ulong expected = (ulong)(largestPn + 1);
        ulong win = 1UL << bits;
        ulong hwin = win / 2;
        ulong mask = win - 1;
        ulong candidate = (expected & ~mask) | truncated;
        if (candidate + hwin <= expected && candidate < (1UL << 62) - win) return candidate + win;
        if (candidate > expected + hwin && candidate >= win) return candidate - win;
        return candidate;
    }
}
