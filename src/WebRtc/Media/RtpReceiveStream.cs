using System.Buffers.Binary;
using System.Text;
using OspBridge.WebRtc.Rtp;
using OspBridge.WebRtc.Rtp.Rtcp;

namespace OspBridge.WebRtc.Media;

/// <summary>
/// Sans-IO receiver of one RTP stream (one remote SSRC, plus its RTX stream). <see cref="ReceiveRtp"/> takes
/// (SRTP-unprotected) packets: RFC 3550 A.1 sequence validation (probation, wrap, restart), A.8 interarrival jitter,
/// a reorder ring, NACK bookkeeping for gaps. <see cref="TryPollFrame"/> feeds in-order payloads to the codec's
/// <see cref="IRtpDepacketizer"/> and hands out <see cref="EncodedFrame"/>s; a missing packet is waited for while it is
/// being NACKed (RTT-paced retries, a retry and an age limit) or <see cref="RtpReceiveStreamOptions.MaxReorderWait"/>
/// otherwise, then skipped. <see cref="TryPollTransmit"/> writes the RTCP this receiver owes: generic NACKs, PLIs
/// (rate-limited; video frames are held back until a keyframe), receiver reports with A.3 loss and LSR/DLSR, an SDES
/// CNAME and a REMB estimate.
/// </summary>
/// <remarks>
/// Memory is bounded by the reorder ring (packet slots allocated on first use, at most 64 KB each), the NACK list and
/// the depacketizer's 4 MB frame cap. Nothing is allocated per packet once the ring is warm. Not thread-safe.
/// </remarks>
public sealed class RtpReceiveStream
{
    private const int MaxDropout = 3000, MinSequential = 2;
    private readonly int _maxMisorder;
    private readonly RtpReceiveStreamOptions _options;
    private readonly IRtpDepacketizer _depacketizer;
    private readonly RtpClock _clock;
    private readonly bool _video;
    private readonly byte[] _cname;
    private readonly System.Security.Cryptography.RandomNumberGenerator _random;
    // reorder ring
    private readonly byte[]?[] _slots;
    private readonly int[] _slotSeq, _slotLength;
    private readonly uint[] _slotTimestamp;
    private readonly bool[] _slotMarker;
    private readonly int _mask;
    private int _buffered;
    private ushort _nextDeliver;
    private TimeSpan? _headMissingSince;
    private bool _deliveredAny;
    private TimeSpan _firstArrival;
    // NACK list
    private readonly ushort[] _nackSeq;
    private readonly int[] _nackRetries;
    private readonly TimeSpan[] _nackFirst, _nackLast;
    private readonly int[] _nackKeys;
    private int _nackCount;
    // RFC 3550 A.1 / A.3 / A.8
    private bool _started;
    private ushort _maxSeq;
    private uint _cycles, _baseSeq, _badSeq, _probation;
    private long _received, _expectedPrior, _receivedPrior;
    private long _lastTransit;
    private bool _haveTransit;
    private long _jitterQ4;
    // frames and feedback
    private byte[] _frame = new byte[64 * 1024];
    private bool _haveFrameTime;
    private uint _lastFrameRtp;
    private long _frameUnits;
    private long _lastDropped;
    private bool _needKeyframe;
    private bool _pliWanted;
    private TimeSpan? _lastPli;
    private uint _lastSrMiddle;
    private TimeSpan _lastSrAt;
    private static readonly DateTimeOffset NtpEpoch = new(1900, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private readonly RoundTripEchoes _rrtrSent = new();
    // SSRC change: the current source's last packet, BYE seen, and the timestamp rebase for the new one
    private TimeSpan _lastFromRemote;
    private bool _remoteSaidBye;
    private bool _relearnRtx;
    private uint _retiredRtxSsrc;
    private bool _rebase;
    private uint _rtpOffset;
    private uint _lastFrameDelta;
    private TimeSpan _lastFrameAt;
    private TimeSpan? _nextReport;
    private TimeSpan _windowStart;
    private long _windowOctets;
    private double _estimate;
    private const double RembFloor = 100_000;
    private readonly Queue<RtpReceiveStreamEvent> _events = new();
    private RtpReceiveStatistics _stats;

    /// <summary>Creates a receiver.</summary>
    /// <exception cref="ArgumentException">Missing randomness or a CNAME longer than 255 octets.</exception>
    public RtpReceiveStream(RtpReceiveStreamOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _random = options.Random ?? throw new ArgumentException("Random is required.", nameof(options));
        _options = options;
        _depacketizer = IRtpDepacketizer.Create(options.Codec);
        _clock = new RtpClock(RtpClock.ClockRateOf(options.Codec), 0);
        _video = options.Codec is MediaCodec.H264 or MediaCodec.H265;
        _needKeyframe = _video && options.WaitForKeyframe;
        _cname = Encoding.UTF8.GetBytes(options.CName);
        if (_cname.Length > 255)
            throw new ArgumentException("CNAME is longer than 255 octets.", nameof(options));
        Span<byte> r = stackalloc byte[4];
        _random.GetBytes(r);
        LocalSsrc = options.LocalSsrc != 0 ? options.LocalSsrc : BinaryPrimitives.ReadUInt32LittleEndian(r) | 1;
        RemoteSsrc = options.RemoteSsrc;
        RtxSsrc = options.RtxSsrc;
        int capacity = 16;
        while (capacity < Math.Clamp(options.ReorderBufferPackets, 16, 8192))
            capacity *= 2;
        _slots = new byte[capacity][];
        _slotSeq = new int[capacity];
        Array.Fill(_slotSeq, -1);
        _slotLength = new int[capacity];
        _slotTimestamp = new uint[capacity];
        _slotMarker = new bool[capacity];
        _mask = capacity - 1;
        // RFC 3550 A.1's MAX_MISORDER (100) is an example value; a NACKed video packet can come back later than
        // that, so anything within the reorder window counts as reordered, not as a jump.
        _maxMisorder = Math.Max(100, capacity);
        int nack = Math.Clamp(options.MaxNackList, 1, 4096);
        _nackSeq = new ushort[nack];
        _nackRetries = new int[nack];
        _nackFirst = new TimeSpan[nack];
        _nackLast = new TimeSpan[nack];
        _nackKeys = new int[nack];
    }

    /// <summary>SSRC of this receiver's RTCP.</summary>
    public uint LocalSsrc { get; }

    /// <summary>The remote media SSRC (0 until learned when not configured; changes when the sender restarts with a new one).</summary>
    public uint RemoteSsrc { get; private set; }

    /// <summary>
    /// The RTX SSRC accepted (0 = any SSRC with the RTX payload type): <see cref="RtpReceiveStreamOptions.RtxSsrc"/> at
    /// first; after an SSRC switch re-learned from the first RTX packet of another SSRC (a restarted sender picks a new
    /// RTX SSRC too), so that its retransmissions are not discarded.
    /// </summary>
    public uint RtxSsrc { get; private set; }

    /// <summary>
    /// Times the media SSRC changed (<see cref="RtpReceiveStreamOptions.SsrcSwitchAfterSilence"/>): the new source's
    /// frames continue the old one's timestamps (shifted by the real gap), video waits for its keyframe.
    /// </summary>
    public int SsrcChanges { get; private set; }

    /// <summary>
    /// RTT used to pace NACK retries (set it from the local sender's statistics when there is one); null =
    /// <see cref="MeasuredRoundTripTime"/>, else <see cref="RtpReceiveStreamOptions.DefaultRoundTripTime"/>.
    /// </summary>
    public TimeSpan? RoundTripTime { get; set; }

    /// <summary>
    /// The RTT this receiver measured itself: its last XR RRTR answered by the sender's DLRR (RFC 3611 §4.5: now − LRR −
    /// DLRR). Null until a DLRR for one of our RRTRs arrived.
    /// </summary>
    public TimeSpan? MeasuredRoundTripTime { get; private set; }

    /// <summary>Counters.</summary>
    public RtpReceiveStatistics Statistics => _stats with
    {
        CumulativeLost = ExpectedPackets - _received,
        ExtendedHighestSequence = _cycles + _maxSeq,
        Jitter = (uint)(_jitterQ4 >> 4),
        FramesDropped = _stats.FramesDropped + _depacketizer.DroppedFrames,
    };

    /// <summary>Missing packets currently being NACKed.</summary>
    public int PendingNacks => _nackCount;

    /// <summary>The RTP timestamp of the frame <see cref="TryPollFrame"/> handed out last (for a jitter buffer or lip sync).</summary>
    public uint LastFrameRtpTimestamp { get; private set; }

    /// <summary>The bitrate (bit/s) of the last REMB this receiver sent; null before the first (see <see cref="RtpReceiveStreamOptions.Remb"/>).</summary>
    public ulong? BitrateEstimateSent { get; private set; }

    /// <summary>REMB packets sent.</summary>
    public long RembsSent { get; private set; }

    /// <summary>
    /// Asks the sender for a keyframe: a PLI goes out at the next <see cref="TryPollTransmit"/> (rate-limited by
    /// <see cref="RtpReceiveStreamOptions.PliMinInterval"/>) and is repeated at that interval until a keyframe is
    /// delivered. With <paramref name="discardUntilKeyframe"/> (video with <see cref="RtpReceiveStreamOptions.WaitForKeyframe"/>)
    /// delta frames are dropped meanwhile — for a consumer that lost frames and cannot decode past the gap.
    /// Returns false before the first packet (the remote SSRC is unknown).
    /// </summary>
    public bool RequestKeyframe(bool discardUntilKeyframe = false)
    {
        if (!_started || RemoteSsrc == 0 || !_video)
            return false;
        _pliWanted = true;
        if (discardUntilKeyframe && _options.WaitForKeyframe)
            _needKeyframe = true;
        return true;
    }

    private long ExpectedPackets => _received == 0 && _probation > 0 ? 0 : (long)_cycles + _maxSeq - _baseSeq + 1;

    private TimeSpan NackInterval => TimeSpan.FromTicks(Math.Max((RoundTripTime ?? MeasuredRoundTripTime ?? _options.DefaultRoundTripTime).Ticks, TimeSpan.TicksPerMillisecond * 10));

    /// <summary>
    /// The earliest time <see cref="HandleDeadline"/>, <see cref="TryPollTransmit"/> or <see cref="TryPollFrame"/> has work;
    /// null when none is pending. A value at or before <c>now</c> means work is due now. Contract: after
    /// <see cref="HandleDeadline"/>(now) and draining <see cref="TryPollTransmit"/> and <see cref="TryPollFrame"/> at
    /// <c>now</c> until both return false, this is later than <c>now</c> or null — it never names a deadline that
    /// handling <c>now</c> did not consume (a driver would spin on it or, worse, treat it as nothing to do).
    /// </summary>
    public TimeSpan? NextDeadline
    {
        get
        {
            TimeSpan? next = _nextReport;
            for (int i = 0; i < _nackCount; i++)
            {
                var t = _nackLast[i] == TimeSpan.MinValue ? _nackFirst[i] + _options.NackDelay : _nackLast[i] + NackInterval;
                var giveUp = _nackFirst[i] + _options.NackMaxAge;
                t = t < giveUp ? t : giveUp;
                next = Earlier(next, t);
            }
            // The missing head's own wait (when it is not being NACKed: then its NACK times above name the deadline).
            if (_buffered > 0 && _headMissingSince is { } since && HeadSlot() < 0 && NackIndex(_nextDeliver) < 0)
                next = Earlier(next, since + _options.MaxReorderWait);
            // The start-up hold, until TryPollFrame has passed it: then either something was delivered or the head was
            // missing (_headMissingSince set) and the head's wait or NACK above takes over. Reporting the hold after that
            // named a past deadline that nothing consumed (a head skipped to by a sequence jump waits out its own wait).
            if (!_deliveredAny && _buffered > 0 && _headMissingSince is null)
                next = Earlier(next, _firstArrival + _options.MaxReorderWait);
            // A PLI is owed: at once when none went out yet (TimeSpan.Zero: due now), else when the rate limit allows it.
            if (_pliWanted)
                next = Earlier(next, _lastPli is { } last ? last + _options.PliMinInterval : TimeSpan.Zero);
            return next;
        }
    }

    private static TimeSpan Earlier(TimeSpan? a, TimeSpan b) => a is { } x && x <= b ? x : b;

    /// <summary>
    /// Takes one RTP packet (already SRTP-unprotected). Returns false when it was not for this stream or was
    /// discarded (malformed, wrong SSRC/PT, duplicate, too late, or rejected by sequence validation).
    /// </summary>
    public bool ReceiveRtp(ReadOnlySpan<byte> packet, TimeSpan now)
    {
        if (!RtpHeader.TryRead(packet, out var header))
            return Discard();
        var payload = header.Payload(packet);
        ushort seq = header.SequenceNumber;
        bool retransmission = false;
        if (_options.RtxPayloadType is byte rtx && header.PayloadType == rtx)
        {
            if (_relearnRtx && _started && header.Ssrc != _retiredRtxSsrc && header.Ssrc != RemoteSsrc)
            {
                // first RTX packet of the new source after an SSRC switch: its RTX SSRC (the one from SDP named the old source's)
                RtxSsrc = header.Ssrc;
                _relearnRtx = true;
            }
            if ((RtxSsrc != 0 && header.Ssrc != RtxSsrc) || payload.Length < 2)
                return Discard();
            seq = BinaryPrimitives.ReadUInt16BigEndian(payload);
            payload = payload[2..];
            retransmission = true;
            if (payload.IsEmpty)
                return Discard(); // RTX padding probe
        }
        else
        {
            if (RemoteSsrc == 0)
                RemoteSsrc = header.Ssrc;
            if (_options.PayloadType is byte pt && header.PayloadType != pt)
                return Discard();
            if (header.Ssrc != RemoteSsrc)
            {
                if (!CanSwitchSsrc(now))
                    return Discard();
                SwitchSsrc(header.Ssrc);
            }
            _lastFromRemote = now;
        }
        if (!_started)
        {
            if (retransmission)
                return Discard();
            _started = true;
            InitSequence(seq);
            _maxSeq = (ushort)(seq - 1);
            _probation = MinSequential;
            _nextDeliver = seq;
            _firstArrival = now;
            _windowStart = now;
            _nextReport = now + _options.ReportInterval;
        }
        bool newest = (short)(seq - _maxSeq) > 0;
        long receivedBefore = _received;
        if (!retransmission && !UpdateSequence(seq))
        {
            if (_probation == 0)
                return Discard(); // first packet of a possible restart
        }
        if (newest && !retransmission)
            UpdateJitter(header.Timestamp, now);
        _stats = _stats with { OctetsReceived = _stats.OctetsReceived + payload.Length };
        _windowOctets += packet.Length;
        int nackAt = NackIndex(seq);
        if (nackAt >= 0)
        {
            if (_nackLast[nackAt] != TimeSpan.MinValue)
                _stats = _stats with { PacketsRecovered = _stats.PacketsRecovered + 1 }; // NACKed, not merely reordered
            RemoveNack(nackAt);
        }
        if (!Store(seq, header.Timestamp, header.Marker, payload, now))
        {
            // A duplicate or a packet already given up: not counted as received (A.1 would count it and drive the
            // cumulative loss negative; receivers commonly do not).
            _received = receivedBefore;
            _stats = _stats with { PacketsReceived = _received };
            return Discard();
        }
        if (retransmission)
        {
            _received++;
            _stats = _stats with { PacketsReceived = _received };
        }
        return true;
    }

    /// <summary>
    /// Hands out the next complete frame in order, if any: <paramref name="frame"/>'s memory is valid until the next
    /// call into this stream. Call until false after each <see cref="ReceiveRtp"/> and at <see cref="NextDeadline"/>.
    /// </summary>
    public bool TryPollFrame(TimeSpan now, out EncodedFrame frame)
    {
        frame = default;
        if (!_deliveredAny && now - _firstArrival < _options.MaxReorderWait)
            return false; // start-up: the first packets of a burst may arrive in any order
        while (_buffered > 0)
        {
            int index = HeadSlot();
            if (index < 0)
            {
                _headMissingSince ??= now;
                if ((_options.Nack && NackIndex(_nextDeliver) >= 0) || now - _headMissingSince.Value < _options.MaxReorderWait)
                    return false;
                _nextDeliver++; // give up on it: the depacketizer sees the gap and drops the broken frame
                LostForGood();
                continue;
            }
            _headMissingSince = null;
            _deliveredAny = true;
            var slot = _slots[index]!;
            bool done = _depacketizer.TryAdd(slot.AsSpan(0, _slotLength[index]), _nextDeliver, _slotTimestamp[index], _slotMarker[index], out var data, out var info);
            _slotSeq[index] = -1;
            _buffered--;
            _nextDeliver++;
            if (_depacketizer.DroppedFrames != _lastDropped)
            {
                _lastDropped = _depacketizer.DroppedFrames;
                if (_video && _options.WaitForKeyframe)
                {
                    _needKeyframe = true;
                    _pliWanted = true;
                }
            }
            if (!done)
                continue;
            uint timestamp = unchecked(info.Timestamp + _rtpOffset);
            if (_rebase)
            {
                // first frame of a new SSRC: continue after the old source's last frame, by the time that passed (at
                // least one frame interval), so frame times and an audio jitter buffer's schedule stay valid
                _rebase = false;
                if (_haveFrameTime)
                {
                    long gap = _clock.ToUnits(now - _lastFrameAt);
                    uint step = (uint)Math.Clamp(Math.Max(gap, _lastFrameDelta == 0 ? 1 : _lastFrameDelta), 1, int.MaxValue / 2);
                    _rtpOffset = unchecked(_lastFrameRtp + step - info.Timestamp);
                    timestamp = unchecked(info.Timestamp + _rtpOffset);
                }
            }
            if (!_haveFrameTime)
            {
                _haveFrameTime = true;
                _lastFrameRtp = timestamp;
            }
            int delta = (int)(timestamp - _lastFrameRtp);
            if (delta > 0 && delta < _clock.ToUnits(TimeSpan.FromSeconds(1)))
                _lastFrameDelta = (uint)delta;
            _frameUnits += delta;
            _lastFrameRtp = timestamp;
            _lastFrameAt = now;
            if (info.IsKeyframe)
            {
                _needKeyframe = false;
                _pliWanted = false;
            }
            else if (_needKeyframe)
            {
                _pliWanted = true;
                _stats = _stats with { FramesDropped = _stats.FramesDropped + 1 };
                continue;
            }
            LastFrameRtpTimestamp = timestamp;
            if (_frame.Length < data.Length)
                _frame = new byte[Math.Max(data.Length, _frame.Length * 2)];
            data.CopyTo(_frame);
            frame = new EncodedFrame(_options.Codec, _frame.AsMemory(0, data.Length), _clock.ToTime(_frameUnits), info.IsKeyframe);
            _stats = _stats with { FramesDelivered = _stats.FramesDelivered + 1 };
            return true;
        }
        return false;
    }

    /// <summary>Fires due timers: gives up NACKs past their age and makes a receiver report due.</summary>
    public void HandleDeadline(TimeSpan now)
    {
        for (int i = _nackCount - 1; i >= 0; i--)
        {
            if (now - _nackFirst[i] >= _options.NackMaxAge)
                GiveUp(i);
        }
    }

    /// <summary>
    /// Writes the next RTCP packet this receiver owes into <paramref name="destination"/> (at least 1200 octets;
    /// unprotected — the caller applies SRTCP): NACK, then PLI, then the periodic RR + SDES (+ REMB). False when none.
    /// </summary>
    public bool TryPollTransmit(Span<byte> destination, TimeSpan now, out int written)
    {
        written = 0;
        if (!_started)
            return false;
        if (_options.Nack && TryWriteNack(destination, now, out written))
            return true;
        if (_pliWanted && (_lastPli is not { } last || now - last >= _options.PliMinInterval))
        {
            int at = _options.ReducedSizeFeedback ? 0 : WriteReport(destination, now, remb: false);
            if (at >= 0 && PictureLossIndication.TryWrite(destination[at..], LocalSsrc, RemoteSsrc, out int pli))
            {
                _lastPli = now;
                _stats = _stats with { PlisSent = _stats.PlisSent + 1 };
                written = at + pli;
                return true;
            }
        }
        if (_nextReport is { } due && now >= due)
        {
            double factor = 0.5 + NextUnit();
            _nextReport = now + TimeSpan.FromTicks((long)(_options.ReportInterval.Ticks * factor));
            int n = WriteReport(destination, now, remb: _video && _options.Remb, rrtr: _options.ReceiverReferenceTime);
            if (n > 0)
            {
                written = n;
                return true;
            }
        }
        return false;
    }

    /// <summary>Takes the next queued event.</summary>
    public bool TryPollEvent(out RtpReceiveStreamEvent e) => _events.TryDequeue(out e);

    /// <summary>
    /// Handles an incoming compound RTCP packet: the remote source's SR (for LSR/DLSR), BYE, and XR DLRR answering our
    /// RRTR (→ <see cref="MeasuredRoundTripTime"/>); the rest is ignored.
    /// </summary>
    public void ReceiveRtcp(ReadOnlySpan<byte> compound, TimeSpan now)
    {
        var reader = new RtcpCompoundReader(compound);
        while (reader.TryRead(out var header, out var packet))
        {
            if (header.PacketType == (byte)RtcpPacketType.SenderReport && SenderReport.TryRead(packet, out var sr) && RemoteSsrc != 0 && sr.Ssrc == RemoteSsrc)
            {
                _lastSrMiddle = NtpTime.Middle(sr.NtpTimestamp);
                _lastSrAt = now;
                // on the frames' timeline: after an SSRC switch their RTP timestamps are rebased by _rtpOffset
                Enqueue(new RtpReceiveStreamEvent(RtpReceiveStreamEventKind.SenderReport, sr.NtpTimestamp, unchecked(sr.RtpTimestamp + _rtpOffset)));
            }
            else if (header.PacketType == (byte)RtcpPacketType.ExtendedReport && ExtendedReport.TryRead(packet, out var xr))
            {
                OnExtendedReport(xr, now);
            }
            else if (header.PacketType == (byte)RtcpPacketType.Goodbye && Goodbye.TryRead(packet, out var bye))
            {
                for (int i = 0; i < bye.SourceCount; i++)
                {
                    if (RemoteSsrc != 0 && bye.Source(i) == RemoteSsrc)
                    {
                        _remoteSaidBye = true;
                        Enqueue(new RtpReceiveStreamEvent(RtpReceiveStreamEventKind.Goodbye));
                        break;
                    }
                }
            }
        }
    }

    private bool CanSwitchSsrc(TimeSpan now) =>
        _options.SsrcSwitchAfterSilence > TimeSpan.Zero && (_remoteSaidBye || !_started || now - _lastFromRemote >= _options.SsrcSwitchAfterSilence);

    /// <summary>A new media SSRC: sequence validation, reorder ring, NACKs and jitter start over; timestamps are rebased.</summary>
    private void SwitchSsrc(uint ssrc)
    {
        RemoteSsrc = ssrc;
        SsrcChanges++;
        if (RtxSsrc != 0)
        {
            _retiredRtxSsrc = RtxSsrc;
            _relearnRtx = true;
        }
        _remoteSaidBye = false;
        _started = false;
        Array.Fill(_slotSeq, -1);
        _buffered = 0;
        _nackCount = 0;
        _haveHighest = false;
        _haveTransit = false;
        _headMissingSince = null;
        _deliveredAny = false;
        _lastSrMiddle = 0;
        _rebase = true;
        _rtpOffset = 0;
        if (_video && _options.WaitForKeyframe)
            _needKeyframe = true;
        Enqueue(new RtpReceiveStreamEvent(RtpReceiveStreamEventKind.SsrcChanged));
    }

    private void OnExtendedReport(ExtendedReport xr, TimeSpan now)
    {
        var blocks = xr.Blocks;
        while (blocks.TryRead(out byte type, out var block))
        {
            if (type != DelaySinceLastReceiverReport.BlockType || !DelaySinceLastReceiverReport.TryRead(block, out var dlrr))
                continue;
            for (int i = 0; i < dlrr.Count; i++)
            {
                var sub = dlrr.SubBlock(i);
                if (sub.Ssrc == LocalSsrc && _rrtrSent.TryRoundTrip(sub.LastReceiverReport, sub.DelaySinceLastReceiverReport, now, out var rtt))
                    MeasuredRoundTripTime = rtt;
            }
        }
    }

    private double NextUnit()
    {
        Span<byte> b = stackalloc byte[2];
        _random.GetBytes(b);
        return BinaryPrimitives.ReadUInt16LittleEndian(b) / 65536.0;
    }

    private int HeadSlot()
    {
        int index = _nextDeliver & _mask;
        return _slotSeq[index] == _nextDeliver ? index : -1;
    }

    private bool Store(ushort seq, uint timestamp, bool marker, ReadOnlySpan<byte> payload, TimeSpan now)
    {
        int delta = (short)(ushort)(seq - _nextDeliver);
        if (delta < 0 && !_deliveredAny && (ushort)(_highestStored - seq) <= _mask)
        {
            _nextDeliver = seq; // start-up reordering: an earlier packet than the first one seen
            delta = 0;
        }
        if (delta < 0 || payload.Length > 65_535)
            return false; // already delivered or skipped
        if (delta > _mask)
        {
            // Beyond the window: skip ahead so that seq is the newest slot; everything skipped is lost.
            int skip = delta - _mask;
            for (int i = 0; i < Math.Min(skip, _slots.Length); i++)
            {
                int idx = (_nextDeliver + i) & _mask;
                if (_slotSeq[idx] >= 0 && (short)(ushort)(_slotSeq[idx] - (_nextDeliver + skip)) < 0)
                {
                    _slotSeq[idx] = -1;
                    _buffered--;
                }
            }
            _nextDeliver = (ushort)(_nextDeliver + skip);
            if (_deliveredAny)
                LostForGood();
            for (int i = _nackCount - 1; i >= 0; i--)
            {
                if ((short)(ushort)(_nackSeq[i] - _nextDeliver) < 0)
                    GiveUp(i);
            }
        }
        int index = seq & _mask;
        if (_slotSeq[index] == seq)
            return false; // duplicate
        var slot = _slots[index];
        if (slot is null || slot.Length < payload.Length)
            _slots[index] = slot = new byte[Math.Max(payload.Length, 1500)];
        payload.CopyTo(slot);
        _slotSeq[index] = seq;
        _slotLength[index] = payload.Length;
        _slotTimestamp[index] = timestamp;
        _slotMarker[index] = marker;
        _buffered++;
        TrackGap(seq, now);
        return true;
    }

    private ushort _highestStored;
    private bool _haveHighest;

    private void TrackGap(ushort seq, TimeSpan now)
    {
        if (!_haveHighest)
        {
            _haveHighest = true;
            _highestStored = seq;
            return;
        }
        int ahead = (short)(ushort)(seq - _highestStored);
        if (ahead <= 0)
            return;
        if (_options.Nack)
        {
            int missing = ahead - 1;
            if (missing > _nackSeq.Length - _nackCount)
            {
                _stats = _stats with { PacketsGivenUp = _stats.PacketsGivenUp + missing };
            }
            else
            {
                for (int i = 1; i <= missing; i++)
                {
                    _nackSeq[_nackCount] = (ushort)(_highestStored + i);
                    _nackRetries[_nackCount] = 0;
                    _nackFirst[_nackCount] = now;
                    _nackLast[_nackCount] = TimeSpan.MinValue;
                    _nackCount++;
                }
            }
        }
        _highestStored = seq;
    }

    private int NackIndex(ushort seq)
    {
        for (int i = 0; i < _nackCount; i++)
        {
            if (_nackSeq[i] == seq)
                return i;
        }
        return -1;
    }

    private void RemoveNack(int i)
    {
        _nackCount--;
        _nackSeq[i] = _nackSeq[_nackCount];
        _nackRetries[i] = _nackRetries[_nackCount];
        _nackFirst[i] = _nackFirst[_nackCount];
        _nackLast[i] = _nackLast[_nackCount];
    }

    private void GiveUp(int i)
    {
        RemoveNack(i);
        _stats = _stats with { PacketsGivenUp = _stats.PacketsGivenUp + 1 };
    }

    private bool TryWriteNack(Span<byte> destination, TimeSpan now, out int written)
    {
        written = 0;
        var interval = NackInterval;
        int due = 0;
        for (int i = _nackCount - 1; i >= 0; i--)
        {
            if (_nackRetries[i] >= _options.NackMaxRetries || now - _nackFirst[i] >= _options.NackMaxAge)
            {
                GiveUp(i);
                continue;
            }
        }
        for (int i = 0; i < _nackCount; i++)
        {
            if (_nackLast[i] == TimeSpan.MinValue ? now - _nackFirst[i] >= _options.NackDelay : now - _nackLast[i] >= interval)
                _nackKeys[due++] = (ushort)(_nackSeq[i] - _nextDeliver);
        }
        if (due == 0)
            return false;
        var keys = _nackKeys.AsSpan(0, due);
        keys.Sort();
        Span<ushort> lost = stackalloc ushort[Math.Min(due, 256)];
        for (int i = 0; i < lost.Length; i++)
            lost[i] = (ushort)(_nextDeliver + keys[i]);
        int at = _options.ReducedSizeFeedback ? 0 : WriteReport(destination, now, remb: false);
        if (at < 0 || !GenericNack.TryWrite(destination[at..], LocalSsrc, RemoteSsrc, lost, out int n))
            return false;
        foreach (ushort seq in lost)
        {
            int i = NackIndex(seq);
            _nackRetries[i]++;
            _nackLast[i] = now;
        }
        _stats = _stats with { NacksSent = _stats.NacksSent + 1 };
        written = at + n;
        return true;
    }

    /// <summary>Writes RR (+ SDES CNAME, + REMB, + XR RRTR); returns the length, or -1 when it does not fit.</summary>
    private int WriteReport(Span<byte> destination, TimeSpan now, bool remb, bool rrtr = false)
    {
        long expected = ExpectedPackets;
        long expectedInterval = expected - _expectedPrior, receivedInterval = _received - _receivedPrior;
        _expectedPrior = expected;
        _receivedPrior = _received;
        long lostInterval = expectedInterval - receivedInterval;
        byte fraction = expectedInterval == 0 || lostInterval <= 0 ? (byte)0 : (byte)Math.Min(255, (lostInterval << 8) / expectedInterval);
        long cumulative = Math.Clamp(expected - _received, -0x800000, 0x7fffff);
        uint dlsr = _lastSrMiddle == 0 ? 0 : NtpTime.ToCompact(now - _lastSrAt);
        ReadOnlySpan<ReceptionReport> block =
        [
            new ReceptionReport(RemoteSsrc, fraction, (int)cumulative, _cycles + _maxSeq, (uint)(_jitterQ4 >> 4), _lastSrMiddle, dlsr),
        ];
        if (!ReceiverReport.TryWrite(destination, LocalSsrc, RemoteSsrc == 0 ? default : block, out int rr)
            || !SourceDescription.TryWriteCName(destination[rr..], LocalSsrc, _cname, out int sdes))
            return -1;
        int at = rr + sdes;
        if (remb && RemoteSsrc != 0)
        {
            var window = now - _windowStart;
            if (window > TimeSpan.Zero)
            {
                double estimate = NextEstimate(_windowOctets * 8 / window.TotalSeconds, fraction);
                if (ReceiverEstimatedMaxBitrate.TryWrite(destination[at..], LocalSsrc, (ulong)estimate, [RemoteSsrc], out int r))
                {
                    at += r;
                    BitrateEstimateSent = (ulong)estimate;
                    RembsSent++;
                }
            }
            _windowStart = now;
            _windowOctets = 0;
        }
        if (rrtr)
        {
            // NTP on this stream's monotonic clock (now = 0 is the NTP epoch): the sender only echoes the middle bits.
            ulong ntp = NtpTime.FromWallClock(NtpEpoch + now);
            uint middle = NtpTime.Middle(ntp);
            if (middle != 0 && ReceiverReferenceTime.TryWrite(destination[at..], LocalSsrc, ntp, out int x))
            {
                _rrtrSent.Record(middle, now);
                at += x;
            }
        }
        return at;
    }

    /// <summary>
    /// The REMB value for this report: a receiver-side cap that invites the sender up to
    /// <see cref="RtpReceiveStreamOptions.RembMaxBitrate"/> while the path does not lose, and follows the received rate
    /// down when it does (GCC's loss rule: above 10 % lost → received × (1 − loss / 2); below 2 % → × 1.08 per report,
    /// at least received × 1.5; in between held). A receive-rate-only estimate would cap an application-limited
    /// sender (an encoder that undershoots its target) at 1.5 × what it sends; this one does not.
    /// </summary>
    private double NextEstimate(double receivedRate, byte fraction)
    {
        double max = Math.Max(_options.RembMaxBitrate, RembFloor);
        if (_estimate <= 0)
            _estimate = max;
        if (fraction > 25)
            _estimate = receivedRate * (1 - fraction / 512.0);
        else if (fraction < 5)
            _estimate = Math.Max(_estimate * 1.08, receivedRate * 1.5);
        _estimate = Math.Clamp(_estimate, RembFloor, max);
        return _estimate;
    }

    private void InitSequence(ushort seq)
    {
        _baseSeq = seq;
        _maxSeq = seq;
        _badSeq = 0x10000 + 1;
        _cycles = 0;
        _received = 0;
        _receivedPrior = 0;
        _expectedPrior = 0;
    }

    /// <summary>RFC 3550 A.1 <c>update_seq</c>.</summary>
    private bool UpdateSequence(ushort seq)
    {
        ushort udelta = (ushort)(seq - _maxSeq);
        if (_probation > 0)
        {
            if (seq == (ushort)(_maxSeq + 1))
            {
                _probation--;
                _maxSeq = seq;
                if (_probation == 0)
                {
                    InitSequence(seq);
                    _received++;
                    _stats = _stats with { PacketsReceived = _received };
                    return true;
                }
            }
            else
            {
                _probation = MinSequential - 1;
                _maxSeq = seq;
            }
            return false;
        }
        if (udelta < MaxDropout)
        {
            if (seq < _maxSeq)
                _cycles += 0x10000;
            _maxSeq = seq;
        }
        else if (udelta <= 0x10000 - _maxMisorder)
        {
            if (seq == _badSeq)
            {
                // Two sequential packets after a big jump: the source restarted.
                InitSequence(seq);
                Restart(seq);
            }
            else
            {
                _badSeq = (uint)((seq + 1) & 0xffff);
                return false;
            }
        }
        _received++;
        _stats = _stats with { PacketsReceived = _received };
        return true;
    }

    private void Restart(ushort seq)
    {
        Array.Fill(_slotSeq, -1);
        _buffered = 0;
        _nackCount = 0;
        _nextDeliver = seq;
        _highestStored = seq;
        _haveHighest = false;
        _haveTransit = false;
        _headMissingSince = null;
        _deliveredAny = false;
        Enqueue(new RtpReceiveStreamEvent(RtpReceiveStreamEventKind.SourceRestarted));
    }

    /// <summary>RFC 3550 A.8: J += (|D| − J) / 16, kept scaled by 16.</summary>
    private void UpdateJitter(uint timestamp, TimeSpan now)
    {
        long arrival = _clock.ToUnits(now);
        long transit = arrival - timestamp;
        if (_haveTransit)
        {
            long d = (long)(int)(uint)(transit - _lastTransit);
            _jitterQ4 += Math.Abs(d) - ((_jitterQ4 + 8) >> 4);
        }
        _haveTransit = true;
        _lastTransit = transit;
    }

    /// <summary>
    /// Packets were skipped for good. A video decoder cannot go on past a lost packet even when it was a whole frame
    /// (the depacketizer only sees gaps inside a frame), so delta frames are held back until a keyframe, asked for by PLI.
    /// </summary>
    private void LostForGood()
    {
        if (_video && _options.WaitForKeyframe)
        {
            _needKeyframe = true;
            _pliWanted = true;
        }
    }

    private bool Discard()
    {
        _stats = _stats with { PacketsDiscarded = _stats.PacketsDiscarded + 1 };
        return false;
    }

    private void Enqueue(RtpReceiveStreamEvent e)
    {
        if (_events.Count < 256)
            _events.Enqueue(e);
    }
}
