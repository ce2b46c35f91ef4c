using System.Buffers.Binary;
using System.Text;
using OspBridge.WebRtc.Rtp;
using OspBridge.WebRtc.Rtp.Rtcp;

namespace OspBridge.WebRtc.Media;

/// <summary>
/// Sans-IO sender of one RTP stream (one SSRC, plus an optional RTX SSRC, RFC 4588). <see cref="SendFrame"/>
/// packetizes a frame into a ring of packet slots (the retransmission buffer); the driver drains packets with
/// <see cref="TryPollTransmit"/> (RTCP first, then retransmissions, then new media), protects them with SRTP and sends
/// them. Incoming RTCP goes to <see cref="ReceiveRtcp"/>: generic NACK → retransmissions of buffered packets
/// (bounded by count and <see cref="RtpSendStreamOptions.RetransmissionMaxAge"/>), PLI/FIR → a rate-limited
/// <see cref="RtpSendStreamEventKind.KeyframeRequested"/>, reception reports → RTT/loss statistics, REMB → a bitrate
/// event. Sender reports (with an SDES CNAME) are due at <see cref="NextDeadline"/>.
/// </summary>
/// <remarks>
/// Sequence numbers start at a random value, timestamps come from <see cref="RtpClock"/> with a random offset.
/// Nothing is allocated per packet; packet slots are allocated on first use. Time only via <c>now</c>. Not thread-safe.
/// </remarks>
public sealed class RtpSendStream
{
    private const int MaxRetransmitQueue = 1024;
    private readonly RtpSendStreamOptions _options;
    private readonly RtpPacketizer _packetizer;
    private readonly byte[]?[] _slots;
    private readonly int[] _slotLength;
    private readonly TimeSpan[] _slotTime;
    private readonly int _mask;
    private readonly ushort[] _retransmitQueue = new ushort[MaxRetransmitQueue];
    private int _retransmitHead, _retransmitCount;
    private readonly Queue<RtpSendStreamEvent> _events = new();
    private readonly byte[] _cname;
    private readonly byte[] _extension;
    private readonly int _extensionLength;
    private readonly RoundTripEchoes _srSent = new();
    private const int MaxRrtrSources = 4;
    private readonly (uint Ssrc, uint Middle, TimeSpan At)[] _rrtrReceived = new (uint, uint, TimeSpan)[MaxRrtrSources];
    private int _rrtrCount;
    private ushort _nextSequence;
    private ushort _nextToSend;
    private int _unsent;
    private ushort _rtxSequence;
    private TimeSpan? _lastKeyframeEvent;
    private TimeSpan? _nextReport;
    private bool _reportDue;
    private bool _hasMedia;
    private TimeSpan _lastFrameTime, _lastFrameNow;
    private RtpSendStatistics _stats;

    /// <summary>Creates a stream.</summary>
    /// <exception cref="ArgumentException">Missing randomness, or an impossible packet size or extension.</exception>
    public RtpSendStream(RtpSendStreamOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var rng = options.Random ?? throw new ArgumentException("Random is required.", nameof(options));
        if (options.PayloadType > 127 || options.RtxPayloadType > 127)
            throw new ArgumentException("Payload types are 0-127.", nameof(options));
        _options = options;
        _packetizer = RtpPacketizer.Create(options.Codec);
        Span<byte> r = stackalloc byte[12];
        rng.GetBytes(r);
        Ssrc = options.Ssrc != 0 ? options.Ssrc : BinaryPrimitives.ReadUInt32LittleEndian(r) | 1;
        RtxSsrc = options.RtxPayloadType is null ? 0 : options.RtxSsrc != 0 ? options.RtxSsrc : BinaryPrimitives.ReadUInt32LittleEndian(r[4..]) | 1;
        _nextSequence = _nextToSend = BinaryPrimitives.ReadUInt16LittleEndian(r[8..]);
        _rtxSequence = BinaryPrimitives.ReadUInt16LittleEndian(r[10..]);
        Clock = RtpClock.Create(options.Codec, rng);
        int capacity = 16;
        while (capacity < Math.Clamp(options.RetransmissionBufferPackets, 16, 8192))
            capacity *= 2;
        _slots = new byte[capacity][];
        _slotLength = new int[capacity];
        _slotTime = new TimeSpan[capacity];
        _mask = capacity - 1;
        _cname = Encoding.UTF8.GetBytes(options.CName);
        if (_cname.Length > 255)
            throw new ArgumentException("CNAME is longer than 255 octets.", nameof(options));
        _extension = new byte[20];
        if (options.MidExtensionId != 0 && !string.IsNullOrEmpty(options.Mid))
        {
            var writer = new RtpExtensionWriter(_extension);
            if (!writer.TryAdd(options.MidExtensionId, Encoding.UTF8.GetBytes(options.Mid)))
                throw new ArgumentException("Mid extension id must be 1-14 and the mid 1-16 octets.", nameof(options));
            _extensionLength = writer.Finish().Length;
        }
        int overhead = HeaderLength + (options.RtxPayloadType is null ? 0 : 2);
        if (options.MaxPacketSize - overhead < _packetizer.MinimumPayloadSize || options.MaxPacketSize > 65_535)
            throw new ArgumentException("MaxPacketSize leaves no room for a payload.", nameof(options));
    }

    /// <summary>Media SSRC.</summary>
    public uint Ssrc { get; }

    /// <summary>RTX SSRC (0 when RTX is off).</summary>
    public uint RtxSsrc { get; }

    /// <summary>The RTP clock (rate and this stream's random offset).</summary>
    public RtpClock Clock { get; }

    /// <summary>Sequence number the next new packet gets.</summary>
    public ushort NextSequenceNumber => _nextSequence;

    /// <summary>Counters and the last receiver feedback.</summary>
    public RtpSendStatistics Statistics => _stats;

    /// <summary>When the next sender report is due (null before the first frame).</summary>
    public TimeSpan? NextDeadline => _nextReport;

    private int HeaderLength => RtpHeader.FixedLength + (_extensionLength > 0 ? 4 + _extensionLength : 0);

    private int MaxPayload => _options.MaxPacketSize - HeaderLength - (_options.RtxPayloadType is null ? 0 : 2);

    /// <summary>
    /// Packetizes <paramref name="frame"/> (copied; the caller's memory is not kept) into the send ring. Returns the
    /// number of packets queued; 0 when the frame's codec differs or the packetizer refused it (an oversized audio frame).
    /// </summary>
    public int SendFrame(in EncodedFrame frame, TimeSpan now)
    {
        if (frame.Codec != _options.Codec || !_packetizer.Begin(frame.Data, MaxPayload))
            return 0;
        uint timestamp = Clock.ToRtp(frame.Timestamp);
        int headerLength = HeaderLength, count = 0;
        while (true)
        {
            int index = _nextSequence & _mask;
            var slot = _slots[index] ??= new byte[_options.MaxPacketSize + 2];
            if (!_packetizer.TryWriteNext(slot.AsSpan(headerLength + 2, MaxPayload), out int written, out bool marker))
                break;
            // The payload was written 2 octets in, leaving room to turn the slot into an RTX packet (OSN) in place.
            var header = new RtpHeader
            {
                Marker = marker,
                PayloadType = _options.PayloadType,
                SequenceNumber = _nextSequence,
                Timestamp = timestamp,
                Ssrc = Ssrc,
                ExtensionProfile = RtpExtensionReader.OneByteProfile,
            };
            header.TryWrite(slot, default, _extension.AsSpan(0, _extensionLength), out _);
            slot.AsSpan(headerLength + 2, written).CopyTo(slot.AsSpan(headerLength));
            _slotLength[index] = headerLength + written;
            _slotTime[index] = now;
            _stats = _stats with { PacketsSent = _stats.PacketsSent + 1, OctetsSent = _stats.OctetsSent + written };
            _nextSequence++;
            if (_unsent == _slots.Length)
            {
                _nextToSend++; // the driver did not keep up: the oldest unsent packet is overwritten
                _stats = _stats with { PacketsDroppedUnsent = _stats.PacketsDroppedUnsent + 1 };
            }
            else
            {
                _unsent++;
            }
            count++;
        }
        _hasMedia = true;
        _lastFrameTime = frame.Timestamp;
        _lastFrameNow = now;
        _nextReport ??= now + _options.SenderReportInterval;
        return count;
    }

    /// <summary>
    /// Writes the next datagram to send into <paramref name="destination"/> (which must hold
    /// <see cref="RtpSendStreamOptions.MaxPacketSize"/> + 2 octets; RTP, or RTCP when <paramref name="isRtcp"/>),
    /// unprotected: the caller applies SRTP/SRTCP. Returns false when nothing is pending.
    /// </summary>
    public bool TryPollTransmit(Span<byte> destination, TimeSpan now, out int written, out bool isRtcp)
    {
        written = 0;
        isRtcp = false;
        if (_reportDue)
        {
            _reportDue = false;
            if (TryWriteSenderReport(destination, now, out written))
            {
                isRtcp = true;
                return true;
            }
        }
        while (_retransmitCount > 0)
        {
            ushort seq = _retransmitQueue[_retransmitHead];
            _retransmitHead = (_retransmitHead + 1) % MaxRetransmitQueue;
            _retransmitCount--;
            if (TryWriteRetransmission(seq, destination, now, out written))
                return true;
        }
        if (_unsent > 0)
        {
            int index = _nextToSend & _mask;
            _slots[index].AsSpan(0, _slotLength[index]).CopyTo(destination);
            written = _slotLength[index];
            _nextToSend++;
            _unsent--;
            return true;
        }
        return false;
    }

    /// <summary>Fires due timers: queues a sender report when <see cref="NextDeadline"/> has passed.</summary>
    public void HandleDeadline(TimeSpan now)
    {
        if (_nextReport is { } due && now >= due)
        {
            _reportDue = true;
            _nextReport = now + _options.SenderReportInterval;
        }
    }

    /// <summary>Takes the next queued event.</summary>
    public bool TryPollEvent(out RtpSendStreamEvent e) => _events.TryDequeue(out e);

    /// <summary>
    /// Handles an incoming (already SRTCP-unprotected) compound RTCP packet: everything addressed to
    /// <see cref="Ssrc"/> is acted upon, the rest ignored. Malformed packets stop the walk; nothing throws.
    /// </summary>
    public void ReceiveRtcp(ReadOnlySpan<byte> compound, TimeSpan now)
    {
        var reader = new RtcpCompoundReader(compound);
        while (reader.TryRead(out var header, out var packet))
        {
            switch ((RtcpPacketType)header.PacketType)
            {
                case RtcpPacketType.SenderReport when SenderReport.TryRead(packet, out var sr):
                    for (int i = 0; i < sr.ReportCount; i++)
                        OnReport(sr.Report(i), now);
                    break;
                case RtcpPacketType.ReceiverReport when ReceiverReport.TryRead(packet, out var rr):
                    for (int i = 0; i < rr.ReportCount; i++)
                        OnReport(rr.Report(i), now);
                    break;
                case RtcpPacketType.TransportFeedback when header.Count == GenericNack.Format && GenericNack.TryRead(packet, out var nack):
                    if (nack.Header.MediaSsrc == Ssrc)
                        OnNack(nack);
                    break;
                case RtcpPacketType.PayloadFeedback:
                    OnPayloadFeedback(header, packet, now);
                    break;
                case RtcpPacketType.ExtendedReport when ExtendedReport.TryRead(packet, out var xr):
                    OnExtendedReport(xr, now);
                    break;
            }
        }
    }

    /// <summary>An RRTR (RFC 3611 §4.4) from a receiver: answered by a DLRR sub-block with our next SR.</summary>
    private void OnExtendedReport(ExtendedReport xr, TimeSpan now)
    {
        uint from = xr.Ssrc;
        if (from == Ssrc)
            return;
        var blocks = xr.Blocks;
        while (blocks.TryRead(out byte type, out var block))
        {
            if (type != ReceiverReferenceTime.BlockType || !ReceiverReferenceTime.TryRead(block, out ulong ntp))
                continue;
            int i = 0;
            while (i < _rrtrCount && _rrtrReceived[i].Ssrc != from)
                i++;
            if (i == MaxRrtrSources)
            {
                // table full: forget the oldest receiver's pending RRTR
                Array.Copy(_rrtrReceived, 1, _rrtrReceived, 0, MaxRrtrSources - 1);
                i = MaxRrtrSources - 1;
            }
            else if (i == _rrtrCount)
            {
                _rrtrCount++;
            }
            _rrtrReceived[i] = (from, NtpTime.Middle(ntp), now);
            _stats = _stats with { RrtrReceived = _stats.RrtrReceived + 1 };
        }
    }

    private void OnPayloadFeedback(RtcpHeader header, ReadOnlySpan<byte> packet, TimeSpan now)
    {
        if (header.Count == PictureLossIndication.Format && PictureLossIndication.TryRead(packet, out var pli))
        {
            if (pli.MediaSsrc == Ssrc)
            {
                _stats = _stats with { PliReceived = _stats.PliReceived + 1 };
                OnKeyframeRequest(now);
            }
        }
        else if (header.Count == FullIntraRequest.Format && FullIntraRequest.TryRead(packet, out var fir))
        {
            for (int i = 0; i < fir.EntryCount; i++)
            {
                if (fir.Entry(i).Ssrc == Ssrc)
                {
                    _stats = _stats with { FirReceived = _stats.FirReceived + 1 };
                    OnKeyframeRequest(now);
                    break;
                }
            }
        }
        else if (header.Count == ReceiverEstimatedMaxBitrate.Format && ReceiverEstimatedMaxBitrate.TryRead(packet, out var remb))
        {
            for (int i = 0; i < remb.SsrcCount; i++)
            {
                if (remb.Ssrc(i) == Ssrc)
                {
                    _stats = _stats with { BitrateEstimate = remb.Bitrate };
                    Enqueue(new RtpSendStreamEvent(RtpSendStreamEventKind.BitrateEstimate, remb.Bitrate));
                    break;
                }
            }
        }
    }

    private void OnKeyframeRequest(TimeSpan now)
    {
        _stats = _stats with { KeyframeRequests = _stats.KeyframeRequests + 1 };
        if (_lastKeyframeEvent is { } last && now - last < _options.KeyframeRequestMinInterval)
            return;
        _lastKeyframeEvent = now;
        Enqueue(new RtpSendStreamEvent(RtpSendStreamEventKind.KeyframeRequested));
    }

    private void OnNack(GenericNack nack)
    {
        _stats = _stats with { NacksReceived = _stats.NacksReceived + 1 };
        for (int i = 0; i < nack.ItemCount; i++)
        {
            var (pid, blp) = nack.Item(i);
            QueueRetransmit(pid);
            for (int b = 0; b < 16; b++)
            {
                if ((blp & (1 << b)) != 0)
                    QueueRetransmit((ushort)(pid + b + 1));
            }
        }
    }

    private void QueueRetransmit(ushort seq)
    {
        if (_retransmitCount == MaxRetransmitQueue)
        {
            _stats = _stats with { NackedPacketsUnavailable = _stats.NackedPacketsUnavailable + 1 };
            return;
        }
        _retransmitQueue[(_retransmitHead + _retransmitCount) % MaxRetransmitQueue] = seq;
        _retransmitCount++;
    }

    private bool TryWriteRetransmission(ushort seq, Span<byte> destination, TimeSpan now, out int written)
    {
        written = 0;
        int age = (ushort)(_nextSequence - seq); // 1 = the newest packet
        if (age >= 1 && age <= _unsent)
            return false; // not sent yet: it goes out anyway
        int index = seq & _mask;
        if (age == 0 || age > _slots.Length || age > _stats.PacketsSent || _slots[index] is not { } slot
            || now - _slotTime[index] > _options.RetransmissionMaxAge)
        {
            _stats = _stats with { NackedPacketsUnavailable = _stats.NackedPacketsUnavailable + 1 };
            return false;
        }
        int length = _slotLength[index];
        if (_options.RtxPayloadType is not byte rtxPt)
        {
            slot.AsSpan(0, length).CopyTo(destination);
            written = length;
        }
        else
        {
            // RFC 4588 §4: RTX SSRC, RTX PT, own sequence, original timestamp and marker; payload = OSN + original payload.
            int headerLength = HeaderLength;
            slot.AsSpan(0, headerLength).CopyTo(destination);
            destination[1] = (byte)((destination[1] & 0x80) | rtxPt);
            BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(2), _rtxSequence++);
            BinaryPrimitives.WriteUInt32BigEndian(destination.Slice(8), RtxSsrc);
            BinaryPrimitives.WriteUInt16BigEndian(destination.Slice(headerLength), seq);
            slot.AsSpan(headerLength, length - headerLength).CopyTo(destination.Slice(headerLength + 2));
            written = length + 2;
        }
        _stats = _stats with { PacketsRetransmitted = _stats.PacketsRetransmitted + 1 };
        return true;
    }

    private void OnReport(ReceptionReport report, TimeSpan now)
    {
        if (report.Ssrc != Ssrc)
            return;
        TimeSpan? rtt = _stats.RoundTripTime;
        if (_srSent.TryRoundTrip(report.LastSenderReport, report.DelaySinceLastSenderReport, now, out var measured))
            rtt = measured;
        _stats = _stats with
        {
            RoundTripTime = rtt,
            FractionLost = report.FractionLost / 256.0,
            CumulativeLost = report.CumulativeLost,
            Jitter = report.Jitter,
        };
        Enqueue(new RtpSendStreamEvent(RtpSendStreamEventKind.ReceiverReport));
    }

    private bool TryWriteSenderReport(Span<byte> destination, TimeSpan now, out int written)
    {
        written = 0;
        if (!_hasMedia)
            return false;
        ulong ntp = NtpTime.FromWallClock(_options.WallClockOrigin + now);
        uint rtp = Clock.ToRtp(_lastFrameTime + (now - _lastFrameNow));
        if (!SenderReport.TryWrite(destination, Ssrc, ntp, rtp, (uint)_stats.PacketsSent, (uint)_stats.OctetsSent, default, out int sr)
            || !SourceDescription.TryWriteCName(destination[sr..], Ssrc, _cname, out int sdes))
            return false;
        _srSent.Record(NtpTime.Middle(ntp), now);
        written = sr + sdes;
        if (_rrtrCount > 0)
        {
            Span<DlrrSubBlock> subs = stackalloc DlrrSubBlock[MaxRrtrSources];
            for (int i = 0; i < _rrtrCount; i++)
                subs[i] = new DlrrSubBlock(_rrtrReceived[i].Ssrc, _rrtrReceived[i].Middle, NtpTime.ToCompact(now - _rrtrReceived[i].At));
            if (DelaySinceLastReceiverReport.TryWrite(destination[written..], Ssrc, subs[.._rrtrCount], out int x))
            {
                written += x;
                _rrtrCount = 0;
            }
        }
        return true;
    }

    private void Enqueue(RtpSendStreamEvent e)
    {
        if (_events.Count < 256)
            _events.Enqueue(e);
    }
}
