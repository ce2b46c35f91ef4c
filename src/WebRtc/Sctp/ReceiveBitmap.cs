namespace OspBridge.WebRtc.Sctp;

/// <summary>
/// Which TSNs above the cumulative TSN have arrived, for a window of <see cref="Window"/> TSNs (bounded memory:
/// 8 KiB). TSNs further ahead are refused by the caller.
/// </summary>
internal sealed class ReceiveBitmap
{
    public const int Window = 65_536;
    private readonly ulong[] _bits = new ulong[Window / 64];

    public bool Get(uint tsn) => (_bits[(tsn >> 6) & ((Window / 64) - 1)] & (1UL << (int)(tsn & 63))) != 0;

    public void Set(uint tsn) => _bits[(tsn >> 6) & ((Window / 64) - 1)] |= 1UL << (int)(tsn & 63);

    public void Clear(uint tsn) => _bits[(tsn >> 6) & ((Window / 64) - 1)] &= ~(1UL << (int)(tsn & 63));

    /// <summary>Finds the next set TSN in (from, to], scanning whole words where possible; null if none.</summary>
    public uint? NextSet(uint from, uint to)
    {
        uint t = from + 1;
        while (SerialNumber.Le(t, to))
        {
            int word = (int)((t >> 6) & ((Window / 64) - 1));
            ulong w = _bits[word] >> (int)(t & 63);
            if (w != 0)
            {
                uint found = t + (uint)System.Numerics.BitOperations.TrailingZeroCount(w);
                return SerialNumber.Le(found, to) ? found : null;
            }
            t = (t | 63) + 1;
        }
        return null;
    }

    /// <summary>Finds the next clear TSN in (from, to]; null if all are set.</summary>
    public uint? NextClear(uint from, uint to)
    {
        uint t = from + 1;
        while (SerialNumber.Le(t, to))
        {
            int word = (int)((t >> 6) & ((Window / 64) - 1));
            ulong w = ~_bits[word] >> (int)(t & 63);
            if (w != 0)
            {
                uint found = t + (uint)System.Numerics.BitOperations.TrailingZeroCount(w);
                return SerialNumber.Le(found, to) ? found : null;
            }
            t = (t | 63) + 1;
        }
        return null;
    }
}

/// <summary>A received DATA chunk waiting for reassembly (payload in a pooled buffer).</summary>
internal struct RxChunk
{
    public byte[] Buffer;
    public int Length;
    public ushort Stream;
    public ushort Ssn;
    public uint Ppid;
    public byte Flags;
    public bool ChainValid;     // a contiguous run of fragments back to a B fragment is present
    public uint ChainStart;
    public long ChainBytes;
}
