namespace OspBridge.Quic.Transport;

/// <summary>
/// Datagram Packetization Layer PMTU Discovery for one path (RFC 8899 as RFC 9000 §14.3 applies it to QUIC): which
/// datagram size the connection may use, and which probe size to try next. Sans-IO and clock-free — the connection
/// sends a probe (a PING padded to <see cref="ProbeSize"/>) when <see cref="WantsProbe"/> says so and reports its
/// fate: acknowledged (<see cref="OnProbeAcked"/>) or declared lost by loss detection (<see cref="OnProbeLost"/>).
/// <para>
/// Search: the first probe goes straight to the upper bound (loopback and jumbo-frame paths confirm it in one round
/// trip); after <see cref="MaxProbes"/> losses of one size the bound drops below it and the search bisects between
/// the confirmed size and the failed one, until they are within <see cref="Granularity"/> bytes or
/// <see cref="MaxSearchSteps"/> sizes were tried. Each size is probed at most <see cref="MaxProbes"/> times
/// (RFC 8899 §5.1.2 MAX_PROBES), one probe in flight at a time; a confirmed size never drops except through
/// <see cref="OnBlackHole"/> (RFC 8899 §4.3: the path stopped carrying what it carried), which returns to the base
/// size and ends the search for this path.
/// </para>
/// </summary>
internal sealed class PathMtuSearch
{
    /// <summary>Probes of one size before it counts as not carried (RFC 8899 MAX_PROBES).</summary>
    public const int MaxProbes = 3;

    /// <summary>The search stops when the confirmed and the failed size are closer than this.</summary>
    public const int Granularity = 32;

    /// <summary>At most this many different sizes are probed on one path.</summary>
    public const int MaxSearchSteps = 10;

    private readonly int _base;
    private int _high;        // largest size not yet known to fail
    private int _probeSize;   // size being probed, 0 = none (search over)
    private int _failures;    // probes of _probeSize lost so far
    private int _steps;
    private bool _inFlight;

    /// <summary>Starts a search from <paramref name="baseSize"/> (already usable) up to <paramref name="maxSize"/>.</summary>
    public PathMtuSearch(int baseSize, int maxSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(baseSize, 1200);
        _base = baseSize;
        Current = baseSize;
        _high = Math.Max(baseSize, maxSize);
        _probeSize = _high - Current >= Granularity ? _high : 0;
        if (_probeSize != 0) _steps = 1;
    }

    /// <summary>The largest datagram confirmed on this path (starts at the base size).</summary>
    public int Current { get; private set; }

    /// <summary>The size to probe next; 0 when the search is over.</summary>
    public int ProbeSize => _probeSize;

    /// <summary>True when a probe should be sent now (search not over, no probe outstanding).</summary>
    public bool WantsProbe => _probeSize != 0 && !_inFlight;

    /// <summary>True once no further probe will be sent on this path.</summary>
    public bool IsComplete => _probeSize == 0;

    /// <summary>Probes declared lost so far (diagnostics).</summary>
    public int ProbesLost { get; private set; }

    /// <summary>Records that a probe of <see cref="ProbeSize"/> bytes left.</summary>
    public void OnProbeSent() => _inFlight = _probeSize != 0;

    /// <summary>A probe of <paramref name="size"/> bytes was acknowledged; true when <see cref="Current"/> grew.</summary>
    public bool OnProbeAcked(int size)
    {
        _inFlight = false;
        if (size <= Current) return false;
        Current = size;
        if (size >= _probeSize) Next();
        return true;
    }

    /// <summary>A probe of <paramref name="size"/> bytes was declared lost (no congestion signal: RFC 9000 §14.4).</summary>
    public void OnProbeLost(int size)
    {
        _inFlight = false;
        ProbesLost++;
        if (size != _probeSize || ++_failures < MaxProbes) return;
        _high = size - 1;
        Next();
    }

    /// <summary>Packets of <see cref="Current"/> size stopped arriving: back to the base size, no further probing.</summary>
    /// <returns>True when <see cref="Current"/> changed.</returns>
    public bool OnBlackHole()
    {
        bool changed = Current != _base;
        Current = _base;
        _high = _base;
        _probeSize = 0;
        _inFlight = false;
        return changed;
    }

    private void Next()
    {
        _failures = 0;
        if (_high - Current < Granularity || _steps >= MaxSearchSteps) { _probeSize = 0; return; }
        _probeSize = Current + ((_high - Current + 1) / 2);
        _steps++;
    }
}
