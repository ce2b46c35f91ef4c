namespace OspBridge.WebRtc.Media;

/// <summary>What <see cref="AudioJitterBuffer.TryPop"/> produced.</summary>
public enum AudioPlayout
{
    /// <summary>Nothing is due yet (or the buffer is idle).</summary>
    None,

    /// <summary>A frame was copied out: decode it.</summary>
    Frame,

    /// <summary>A frame was due but is missing: conceal it (Opus: decode with no data / FEC; G.711: repeat or silence).</summary>
    Lost,
}

/// <summary>
/// A playout buffer for received audio frames (Opus, G.711): frames are pushed as they arrive (in any order) and
/// popped at their playout time = the first frame's arrival + <see cref="TargetDelay"/> + (RTP timestamp − the first
/// frame's) / clock rate. A frame that is due but absent is reported <see cref="AudioPlayout.Lost"/> once; frames
/// arriving after their slot was played or concealed are dropped as late. Bounded: at most <c>maxFrames</c> frames of
/// at most <c>maxFrameSize</c> octets; after <c>maxConsecutiveLost</c> missing frames in a row (silence, DTX, a stalled
/// sender) it goes idle and re-anchors on the next frame. The target delay is fixed (not adaptive). Time only via
/// <c>now</c>; not thread-safe.
/// </summary>
public sealed class AudioJitterBuffer
{
    private readonly byte[]?[] _slots;
    private readonly int[] _length;
    private readonly uint[] _timestamp;
    private readonly bool[] _used;
    private readonly int _clockRate;
    private readonly int _maxFrameSize;
    private readonly int _maxConsecutiveLost;
    private int _count;
    private bool _started;
    private uint _baseRtp;
    private TimeSpan _basePlayout;
    private uint _next;
    private uint _frameDuration;
    private bool _measured;
    private int _consecutiveLost;

    /// <summary>Creates a buffer.</summary>
    /// <param name="clockRate">RTP clock rate (48 000 Opus, 8 000 G.711).</param>
    /// <param name="targetDelay">Delay added to the first frame's arrival (the jitter absorbed). Typical 40–100 ms.</param>
    /// <param name="maxFrames">Frames held at most (a frame beyond that is refused).</param>
    /// <param name="maxFrameSize">Largest frame accepted, octets.</param>
    /// <param name="maxConsecutiveLost">Missing frames in a row before going idle.</param>
    public AudioJitterBuffer(int clockRate, TimeSpan targetDelay, int maxFrames = 64, int maxFrameSize = 1500, int maxConsecutiveLost = 10)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(clockRate);
        ArgumentOutOfRangeException.ThrowIfLessThan(targetDelay, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxFrames);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxFrameSize);
        _clockRate = clockRate;
        TargetDelay = targetDelay;
        _maxFrameSize = maxFrameSize;
        _maxConsecutiveLost = Math.Max(1, maxConsecutiveLost);
        _slots = new byte[maxFrames][];
        _length = new int[maxFrames];
        _timestamp = new uint[maxFrames];
        _used = new bool[maxFrames];
        _frameDuration = (uint)(clockRate / 50); // 20 ms until measured
    }

    /// <summary>The playout delay after the first frame's arrival.</summary>
    public TimeSpan TargetDelay { get; }

    /// <summary>Frames waiting.</summary>
    public int Count => _count;

    /// <summary>Frames played.</summary>
    public long FramesPlayed { get; private set; }

    /// <summary>Frames reported lost (concealed).</summary>
    public long FramesLost { get; private set; }

    /// <summary>Frames dropped because they arrived after their playout time (or were duplicates).</summary>
    public long FramesLate { get; private set; }

    /// <summary>Frames refused because the buffer was full or they were too large.</summary>
    public long FramesRefused { get; private set; }

    /// <summary>Adds a frame; false when it is late, a duplicate, too large or the buffer is full.</summary>
    public bool Push(ReadOnlySpan<byte> frame, uint rtpTimestamp, TimeSpan now)
    {
        if (frame.IsEmpty || frame.Length > _maxFrameSize)
        {
            FramesRefused++;
            return false;
        }
        if (!_started)
        {
            _started = true;
            _baseRtp = _next = rtpTimestamp;
            _basePlayout = now + TargetDelay;
            _consecutiveLost = 0;
        }
        else if ((int)(rtpTimestamp - _next) < 0)
        {
            FramesLate++;
            return false;
        }
        int free = -1;
        for (int i = 0; i < _slots.Length; i++)
        {
            if (_used[i] && _timestamp[i] == rtpTimestamp)
            {
                FramesLate++;
                return false;
            }
            if (!_used[i] && free < 0)
                free = i;
        }
        if (free < 0)
        {
            FramesRefused++;
            return false;
        }
        var slot = _slots[free] ??= new byte[_maxFrameSize];
        frame.CopyTo(slot);
        _length[free] = frame.Length;
        _timestamp[free] = rtpTimestamp;
        _used[free] = true;
        _count++;
        return true;
    }

    /// <summary>When the next frame (or loss) is due; null when idle.</summary>
    public TimeSpan? NextPlayout => _started ? PlayoutTime(_next) : null;

    /// <summary>
    /// Plays out what is due at <paramref name="now"/>: the frame is copied into <paramref name="destination"/> (at least
    /// <c>maxFrameSize</c> octets) with its RTP timestamp. Call repeatedly until <see cref="AudioPlayout.None"/>.
    /// </summary>
    public AudioPlayout TryPop(TimeSpan now, Span<byte> destination, out int written, out uint rtpTimestamp)
    {
        written = 0;
        rtpTimestamp = 0;
        if (!_started || PlayoutTime(_next) > now)
            return AudioPlayout.None;
        int earliest = -1;
        for (int i = 0; i < _slots.Length; i++)
        {
            if (_used[i] && (earliest < 0 || (int)(_timestamp[i] - _timestamp[earliest]) < 0))
                earliest = i;
        }
        if (earliest >= 0 && (int)(_timestamp[earliest] - _next) <= 0)
        {
            uint ts = _timestamp[earliest];
            _slots[earliest].AsSpan(0, _length[earliest]).CopyTo(destination);
            written = _length[earliest];
            rtpTimestamp = ts;
            _used[earliest] = false;
            _count--;
            // The frame duration is the smallest gap seen to the following buffered frame (a larger gap means a loss).
            int following = -1;
            for (int i = 0; i < _slots.Length; i++)
            {
                if (_used[i] && (following < 0 || (int)(_timestamp[i] - _timestamp[following]) < 0))
                    following = i;
            }
            if (following >= 0)
            {
                uint gap = _timestamp[following] - ts;
                if (gap > 0 && gap <= (uint)(_clockRate / 8) && (!_measured || gap < _frameDuration))
                {
                    _frameDuration = gap;
                    _measured = true;
                }
            }
            _next = ts + _frameDuration;
            _consecutiveLost = 0;
            FramesPlayed++;
            return AudioPlayout.Frame;
        }
        rtpTimestamp = _next;
        _next += _frameDuration;
        FramesLost++;
        if (++_consecutiveLost >= _maxConsecutiveLost && _count == 0)
            _started = false; // idle: re-anchor on the next frame
        return AudioPlayout.Lost;
    }

    private TimeSpan PlayoutTime(uint timestamp)
    {
        long units = (int)(timestamp - _baseRtp);
        return _basePlayout + TimeSpan.FromTicks(units * TimeSpan.TicksPerSecond / _clockRate);
    }
}
