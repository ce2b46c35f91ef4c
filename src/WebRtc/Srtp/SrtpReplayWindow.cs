namespace OspBridge.WebRtc.Srtp;

/// <summary>
/// Sliding replay window over 48-bit SRTP (or 31-bit SRTCP) indices (RFC 3711 §3.3.2): an index more than
/// <see cref="Size"/> behind the highest one seen, or already seen, is a replay. Check first, mark only after the
/// packet authenticated.
/// </summary>
internal sealed class SrtpReplayWindow
{
    /// <summary>Window size in packets (libsrtp's default is 128; Chromium configures 1024 for video).</summary>
    public const int Size = 1024;

    private readonly ulong[] _bits = new ulong[Size / 64];
    private long _highest = -1;

    /// <summary>The highest index marked so far (-1 before the first).</summary>
    public long Highest => _highest;

    /// <summary>True when <paramref name="index"/> is new and inside the window.</summary>
    public bool Check(long index)
    {
        if (index > _highest)
            return true;
        if (_highest - index >= Size)
            return false;
        return (_bits[(int)(index % Size) / 64] & (1UL << (int)(index % 64))) == 0;
    }

    /// <summary>Marks <paramref name="index"/> seen (after authentication).</summary>
    public void Mark(long index)
    {
        if (index > _highest)
        {
            long shift = _highest < 0 ? Size : index - _highest;
            if (shift >= Size)
            {
                Array.Clear(_bits);
            }
            else
            {
                for (long i = _highest + 1; i <= index; i++)
                    _bits[(int)(i % Size) / 64] &= ~(1UL << (int)(i % 64));
            }
            _highest = index;
        }
        _bits[(int)(index % Size) / 64] |= 1UL << (int)(index % 64);
    }
}
