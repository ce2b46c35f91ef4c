namespace OspBridge.Crypto.Dtls;

/// <summary>64-record sliding anti-replay window (RFC 6347 §4.1.2.6, RFC 4303 §3.4.3) for one epoch.</summary>
internal struct ReplayWindow
{
    private ulong _max;     // highest sequence number accepted so far
    private ulong _bitmap;  // bit i set: (_max - i) was accepted
    private bool _any;

    /// <summary>True when <paramref name="seq"/> is new and not too old; does not change the window.</summary>
    public readonly bool IsAcceptable(ulong seq)
    {
        if (!_any || seq > _max) return true;
        ulong diff = _max - seq;
        if (diff >= 64) return false;
        return (_bitmap & (1UL << (int)diff)) == 0;
    }

    /// <summary>Marks <paramref name="seq"/> as received (call only after the record authenticated).</summary>
    public void Accept(ulong seq)
    {
        if (!_any)
        {
            _any = true;
            _max = seq;
            _bitmap = 1;
            return;
        }
        if (seq > _max)
        {
            ulong shift = seq - _max;
            _bitmap = shift >= 64 ? 1 : (_bitmap << (int)shift) | 1;
            _max = seq;
        }
        else
        {
            ulong diff = _max - seq;
            if (diff < 64) _bitmap |= 1UL << (int)diff;
        }
    }
}
