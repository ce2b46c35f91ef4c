using OspBridge.WebRtc.Sctp.Chunks;

namespace OspBridge.WebRtc.Sctp;

// Sending side: the send queue, fragmentation, retransmission, SACK processing, congestion control (RFC 9260 §6-7)
// and PR-SCTP abandonment with FORWARD-TSN (RFC 3758).
public sealed partial class SctpAssociation
{
    private struct OutStream
    {
        public ushort NextSsn;
        public long Buffered;       // bytes queued and not yet given a TSN
        public long LowThreshold;
        public int Queued;          // messages not fully given TSNs
        public byte Reset;          // 0 none, 1 reset wanted, 2 in a request in flight
        public bool BufferedChanged; // Buffered fell since the last TryTakeBufferedAmountChange for this stream
    }

    private readonly OutStream[] _outStreams;
    private readonly Queue<ushort> _bufferedChanges = new(); // streams with BufferedChanged set, each once
    private readonly SendScheduler _sendQueue;
    private readonly SctpBytePool _bytePool = new();
    private readonly SendArena _arena;
    private readonly InflightRing _inflight = new();
    private readonly (ushort Stream, ushort Ssn)[] _forwardScratch = new (ushort, ushort)[128];
    private uint _nextTsn;
    private uint _cumAckTsn;
    private uint _advancedPeerAckPoint;
    private long _cwnd;
    private long _ssthresh;
    private long _partialBytesAcked;
    private long _flightSize;
    private long _peerRwnd;
    private long _bufferedTotal;
    private long _unsentTotal;
    private bool _inFastRecovery;
    private uint _recoveryExitTsn;
    private bool _fastRetransmitPending;
    private int _retransmitPending;
    private TimeSpan? _t3;
    private bool _sendForwardTsn;
    private int _burstBudget;   // packets with DATA still allowed in answer to the inputs since the last send stop (Max.Burst)
    private int _burstRun;      // packets with DATA built since the last input (diagnostics)

    // Diagnostics (the echo bench prints them; issue 14): why the congestion window moves.
    internal long T3Expiries { get; private set; }
    internal long FastRecoveries { get; private set; }
    internal long FastRetransmittedChunks { get; private set; }
    internal long SacksWithGaps { get; private set; }
    internal long DataPacketsSent { get; private set; }
    internal int MaxBurstPackets { get; private set; }
    internal long BurstLimitStops { get; private set; }

    internal uint CumulativeAckTsn => _cumAckTsn;
    internal uint NextTsn => _nextTsn;
    internal int OutstandingChunks => _inflight.Count;
    internal uint AdvancedPeerAckPoint => _advancedPeerAckPoint;

    /// <summary>Bytes of user messages not yet handed to the network (all streams).</summary>
    public long BufferedAmount => _unsentTotal;

    /// <summary>Bytes of user messages accepted and not yet acknowledged or abandoned (bounded by <see cref="SctpOptions.SendBufferSize"/>).</summary>
    public long SendBufferUsed => _bufferedTotal;

    /// <summary>Bytes in flight (sent, not yet acknowledged).</summary>
    public long FlightSize => _flightSize;

    /// <summary>
    /// Bytes of user messages queued on <paramref name="streamId"/> and not yet handed to the network
    /// (RTCDataChannel.bufferedAmount); messages sent with <c>countsAsBuffered: false</c> (data-channel control
    /// messages) are not included.
    /// </summary>
    public long GetBufferedAmount(ushort streamId) => streamId < _outStreams.Length ? _outStreams[streamId].Buffered : 0;

    /// <summary>Sets the threshold under which <see cref="SctpEventKind.BufferedAmountLow"/> fires for <paramref name="streamId"/>.</summary>
    public void SetBufferedAmountLowThreshold(ushort streamId, long threshold)
    {
        if (streamId >= _outStreams.Length || threshold < 0)
        {
            throw new WebRtcException(WebRtcError.InvalidArgument, "Stream id or threshold out of range.");
        }
        _outStreams[streamId].LowThreshold = threshold;
    }

    /// <summary>
    /// Queues one user message on <paramref name="streamId"/> with payload protocol id <paramref name="ppid"/>.
    /// The bytes are copied. Throws <see cref="WebRtcException"/>: <see cref="WebRtcError.InvalidState"/> unless
    /// established (or if the stream is being reset), <see cref="WebRtcError.InvalidArgument"/> for an empty payload or a
    /// stream beyond the negotiated count, <see cref="WebRtcError.MessageTooLarge"/> above
    /// <see cref="SctpOptions.RemoteMaxMessageSize"/>, <see cref="WebRtcError.SendBufferFull"/> when
    /// <see cref="SctpOptions.SendBufferSize"/> would be exceeded. Partial reliability is ignored if the peer lacks FORWARD-TSN.
    /// </summary>
    public void Send(ushort streamId, uint ppid, ReadOnlySpan<byte> payload, SctpSendOptions options, TimeSpan now) =>
        Send(streamId, ppid, payload, options, now, countsAsBuffered: true);

    /// <summary>
    /// <see cref="Send(ushort, uint, ReadOnlySpan{byte}, SctpSendOptions, TimeSpan)"/>; with <paramref name="countsAsBuffered"/>
    /// false the message does not count in the stream's buffered amount (DCEP messages, the placeholder byte of an empty message).
    /// </summary>
    internal void Send(ushort streamId, uint ppid, ReadOnlySpan<byte> payload, SctpSendOptions options, TimeSpan now, bool countsAsBuffered)
    {
        if (State != SctpState.Established)
        {
            throw new WebRtcException(WebRtcError.InvalidState, $"Cannot send in state {State}.");
        }
        if (streamId >= _outStreamCount)
        {
            throw new WebRtcException(WebRtcError.InvalidArgument, $"Stream {streamId} is beyond the {_outStreamCount} negotiated outbound streams.");
        }
        if (payload.IsEmpty)
        {
            throw new WebRtcException(WebRtcError.InvalidArgument, "SCTP cannot carry an empty message.");
        }
        if (payload.Length > _o.RemoteMaxMessageSize)
        {
            throw new WebRtcException(WebRtcError.MessageTooLarge, $"Message of {payload.Length} bytes exceeds the peer's max-message-size {_o.RemoteMaxMessageSize}.");
        }
        if (_bufferedTotal + payload.Length > _o.SendBufferSize)
        {
            throw new WebRtcException(WebRtcError.SendBufferFull, "The send buffer is full.");
        }
        ref var s = ref _outStreams[streamId];
        if (s.Reset != 0)
        {
            throw new WebRtcException(WebRtcError.InvalidState, $"Stream {streamId} is being reset.");
        }
        var m = _arena.Rent(payload);
        m.Offset = 0;
        m.Stream = streamId;
        m.Ssn = 0;
        m.Ppid = ppid;
        m.Unordered = !options.Ordered;
        m.Abandoned = false;
        bool pr = _peerForwardTsn;
        m.MaxRetransmits = pr && options.MaxRetransmits is { } r ? Math.Max(0, r) : -1;
        m.ExpiresAt = pr && options.MaxLifetime is { } l ? now + (l < TimeSpan.Zero ? TimeSpan.Zero : l) : TimeSpan.MaxValue;
        m.Uncounted = !countsAsBuffered;
        _sendQueue.Enqueue(m);
        if (countsAsBuffered)
        {
            s.Buffered += m.Length;
        }
        s.Queued++;
        _bufferedTotal += m.Length;
        _unsentTotal += m.Length;
        AllowBurst(); // a send is a send opportunity (as in dcsctp): without it a message could wait for a delayed SACK
    }

    /// <summary>An input (a packet, a T3 expiry, or a send) allows up to Max.Burst more packets with DATA.</summary>
    private void AllowBurst()
    {
        _burstRun = 0;
        int max = _o.MaxBurst > 0 ? _o.MaxBurst : int.MaxValue / 2;
        _burstBudget = Math.Min(_burstBudget + max, int.MaxValue / 2);
    }

    private bool HasUnfinishedData => _sendQueue.Count > 0 || _inflight.Count > 0;

    private bool HasDataReadyToSend() =>
        (_burstBudget > 0 || _fastRetransmitPending) && (_retransmitPending > 0 || (_sendQueue.Count > 0 && _flightSize < _cwnd && (_flightSize == 0 || _peerRwnd > 0)));

    private void ReleaseMessage(OutgoingMessage m)
    {
        if (m.References == 1)
        {
            _bufferedTotal -= m.Length;
        }
        _arena.Release(m);
    }

    /// <summary>An acknowledged or abandoned chunk leaves the flight size and the retransmission queue.</summary>
    private void StopTracking(ref InflightChunk e)
    {
        if (e.InFlight)
        {
            e.InFlight = false;
            _flightSize -= e.Length;
        }
        if (e.NeedsRetransmit)
        {
            e.NeedsRetransmit = false;
            _retransmitPending--;
        }
    }

    private void ConsumeUnsent(OutgoingMessage m, int bytes)
    {
        _unsentTotal -= bytes;
        if (m.Uncounted)
        {
            return;
        }
        ref var s = ref _outStreams[m.Stream];
        long before = s.Buffered;
        s.Buffered -= bytes;
        if (!s.BufferedChanged)
        {
            s.BufferedChanged = true;
            _bufferedChanges.Enqueue(m.Stream);
        }
        if (before > s.LowThreshold && s.Buffered <= s.LowThreshold)
        {
            _events.Enqueue(new SctpEvent(SctpEventKind.BufferedAmountLow, m.Stream));
        }
    }

    /// <summary>
    /// Takes one stream whose buffered amount fell since it was last taken, with its current amount. Coalesced: a stream
    /// is reported once however many packets drained it, so a driver can refresh a cached bufferedAmount without polling.
    /// </summary>
    internal bool TryTakeBufferedAmountChange(out ushort streamId, out long bufferedAmount)
    {
        if (_bufferedChanges.TryDequeue(out streamId))
        {
            ref var s = ref _outStreams[streamId];
            s.BufferedChanged = false;
            bufferedAmount = s.Buffered;
            return true;
        }
        bufferedAmount = 0;
        return false;
    }

    /// <summary>Takes a message off the head of the send queue once all of it has TSNs (or it was abandoned).</summary>
    private void DequeueHead(OutgoingMessage m)
    {
        _sendQueue.RemoveCurrent();
        _outStreams[m.Stream].Queued--;
        ReleaseMessage(m);
    }

    private int WriteData(Span<byte> buf, int pos, TimeSpan now)
    {
        bool sent = false;
        if (_burstBudget <= 0 && !_fastRetransmitPending)
        {
            // Max.Burst (RFC 9260 §6.1): this input's share of packets is used up; the next SACK brings more.
            // (A fast retransmission always goes: it answers the SACK that triggered it, RFC 9260 §7.2.4.)
            if ((_retransmitPending > 0 || _sendQueue.Count > 0) && _flightSize < _cwnd)
            {
                BurstLimitStops++;
            }
            return pos;
        }
        if (_retransmitPending > 0)
        {
            bool ignoreCwnd = _fastRetransmitPending;
            _fastRetransmitPending = false;
            for (int i = 0; i < _inflight.Count && _retransmitPending > 0; i++)
            {
                ref var e = ref _inflight[i];
                if (!e.NeedsRetransmit)
                {
                    continue;
                }
                var m = e.Message;
                if ((m.MaxRetransmits >= 0 && e.TransmitCount > m.MaxRetransmits) || now >= m.ExpiresAt)
                {
                    AbandonMessage(m);
                    continue;
                }
                if (!ignoreCwnd && _flightSize >= _cwnd)
                {
                    break;
                }
                int size = SctpChunkReader.Padded(DataChunk.HeaderLength + e.Length);
                if (pos + size > buf.Length)
                {
                    break;
                }
                pos += DataChunk.Write(buf.Slice(pos), e.Flags, _cumAckTsn + 1 + (uint)i, m.Stream, e.Ssn, m.Ppid, m.Bytes(e.Offset, e.Length));
                e.NeedsRetransmit = false;
                _retransmitPending--;
                e.TransmitCount++;
                e.SentAt = now;
                e.InFlight = true;
                _flightSize += e.Length;
                RetransmittedChunks++;
                sent = true;
            }
        }
        int maxPayload = buf.Length - SctpCommonHeader.Length - DataChunk.HeaderLength;
        while (_retransmitPending == 0 && _sendQueue.Count > 0 && _flightSize < _cwnd && _inflight.Count < ReceiveBitmap.Window - 1)
        {
            var m = _sendQueue.Peek()!;
            if (m.Abandoned)
            {
                DequeueHead(m);
                continue;
            }
            if (now >= m.ExpiresAt)
            {
                if (m.Offset == 0)
                {
                    // Expired before any byte left: drop it silently (nothing to tell the peer).
                    ConsumeUnsent(m, m.Length);
                    m.Offset = m.Length;
                    m.Abandoned = true;
                    DequeueHead(m);
                }
                else
                {
                    AbandonMessage(m);
                }
                continue;
            }
            int remaining = m.Length - m.Offset;
            int room = buf.Length - pos - DataChunk.HeaderLength;
            if (room <= 0 || (room < remaining && room < 128))
            {
                break;
            }
            int take = Math.Min(Math.Min(room, remaining), maxPayload);
            if (_flightSize > 0)
            {
                // Receiver window (RFC 9260 §6.1 rule A); with nothing in flight one probe may go anyway.
                if (_peerRwnd <= 0)
                {
                    break;
                }
                if (take > _peerRwnd)
                {
                    take = (int)_peerRwnd;
                    if (take < 128 && take < remaining)
                    {
                        break;
                    }
                }
            }
            byte flags = 0;
            if (m.Offset == 0)
            {
                flags |= DataChunk.FlagBeginning;
                if (!m.Unordered)
                {
                    m.Ssn = _outStreams[m.Stream].NextSsn++;
                }
            }
            if (m.Offset + take == m.Length)
            {
                flags |= DataChunk.FlagEnd;
            }
            if (m.Unordered)
            {
                flags |= DataChunk.FlagUnordered;
            }
            if (_burstBudget == 1 && _o.MaxBurst > 0 && _flightSize + take < _cwnd)
            {
                // The last packet Max.Burst allows although the window is open: ask for an immediate SACK (RFC 7053 I bit)
                // so the peer's delayed SACK does not hold the rest back.
                flags |= DataChunk.FlagImmediate;
            }
            uint tsn = _nextTsn++;
            pos += DataChunk.Write(buf.Slice(pos), flags, tsn, m.Stream, m.Ssn, m.Ppid, m.Bytes(m.Offset, take));
            m.References++;
            _inflight.Add(new InflightChunk
            {
                Message = m,
                Offset = m.Offset,
                Length = take,
                Flags = flags,
                Ssn = m.Ssn,
                SentAt = now,
                TransmitCount = 1,
                InFlight = true,
            });
            m.Offset += take;
            _flightSize += take;
            _peerRwnd -= take;
            ConsumeUnsent(m, take);
            sent = true;
            if (m.FullySent)
            {
                DequeueHead(m);
            }
        }
        if (sent)
        {
            DataPacketsSent++;
            if (++_burstRun > MaxBurstPackets)
            {
                MaxBurstPackets = _burstRun;
            }
            if (_burstBudget > 0)
            {
                _burstBudget--;
            }
            _t3 ??= now + _rto.Rto;
        }
        if (_flightSize >= _cwnd || (_retransmitPending == 0 && (_sendQueue.Count == 0 || (_peerRwnd <= 0 && _flightSize > 0))))
        {
            _burstBudget = 0; // stopped by a window or out of data: unused allowance must not add up into a later burst
        }
        return pos;
    }

    /// <summary>PR-SCTP: gives up on every chunk of <paramref name="m"/> (RFC 3758 §3.5).</summary>
    private void AbandonMessage(OutgoingMessage m)
    {
        if (m.Abandoned)
        {
            return;
        }
        m.Abandoned = true;
        for (int i = 0; i < _inflight.Count; i++)
        {
            ref var e = ref _inflight[i];
            if (!ReferenceEquals(e.Message, m) || e.Abandoned)
            {
                continue;
            }
            e.Abandoned = true;
            StopTracking(ref e);
        }
        if (!m.FullySent)
        {
            ConsumeUnsent(m, m.Length - m.Offset);
            m.Offset = m.Length; // the rest never gets a TSN; DequeueHead happens when it reaches the head
        }
        UpdateAdvancedPeerAckPoint();
    }

    private void UpdateAdvancedPeerAckPoint()
    {
        if (SerialNumber.Lt(_advancedPeerAckPoint, _cumAckTsn))
        {
            _advancedPeerAckPoint = _cumAckTsn;
        }
        int start = (int)(_advancedPeerAckPoint - _cumAckTsn);
        bool moved = false;
        for (int i = start; i < _inflight.Count; i++)
        {
            ref var e = ref _inflight[i];
            if (!e.Abandoned && !e.Acked)
            {
                break;
            }
            _advancedPeerAckPoint = _cumAckTsn + 1 + (uint)i;
            moved = true;
        }
        if (moved || SerialNumber.Gt(_advancedPeerAckPoint, _cumAckTsn))
        {
            _sendForwardTsn = true;
        }
    }

    private int WriteForwardTsn(Span<byte> buf, int pos)
    {
        if (!_sendForwardTsn)
        {
            return pos;
        }
        _sendForwardTsn = false;
        if (!_peerForwardTsn || !SerialNumber.Gt(_advancedPeerAckPoint, _cumAckTsn))
        {
            return pos;
        }
        int maxEntries = Math.Min(_forwardScratch.Length, (buf.Length - pos - 8) / 4);
        if (maxEntries < 1)
        {
            _sendForwardTsn = true;
            return pos;
        }
        int n = 0;
        uint newCum = _cumAckTsn;
        int count = (int)(_advancedPeerAckPoint - _cumAckTsn);
        for (int i = 0; i < count; i++)
        {
            ref var e = ref _inflight[i];
            if (e.Abandoned && (e.Flags & DataChunk.FlagUnordered) == 0)
            {
                int j = 0;
                while (j < n && _forwardScratch[j].Stream != e.Message.Stream)
                {
                    j++;
                }
                if (j == n)
                {
                    if (n == maxEntries)
                    {
                        break; // too many streams for one chunk: forward only this far now
                    }
                    n++;
                }
                _forwardScratch[j] = (e.Message.Stream, e.Ssn);
            }
            newCum = _cumAckTsn + 1 + (uint)i;
        }
        if (newCum == _cumAckTsn)
        {
            return pos;
        }
        return pos + ForwardTsnChunk.Write(buf.Slice(pos), newCum, _forwardScratch.AsSpan(0, n));
    }

    private void HandleSack(ReadOnlySpan<byte> value, TimeSpan now)
    {
        if (State is < SctpState.Established or SctpState.ShutdownAckSent || !SackChunk.TryParse(value, out var sack))
        {
            return;
        }
        uint cum = sack.CumulativeTsnAck;
        if (SerialNumber.Lt(cum, _cumAckTsn) || SerialNumber.Gt(cum, _nextTsn - 1))
        {
            return; // stale, or acknowledges TSNs never sent
        }
        long flightBefore = _flightSize;
        bool cumAdvanced = SerialNumber.Gt(cum, _cumAckTsn);
        long bytesAcked = AdvanceCumulativeAck(cum, now, out uint highestNewlyAcked);

        // Gap ack blocks (offsets from cum); they must ascend and not overlap.
        if (sack.GapBlockCount > 0)
        {
            SacksWithGaps++;
        }
        int lastEnd = 0;
        uint highestReported = cum;
        for (int g = 0; g < sack.GapBlockCount; g++)
        {
            var (start, end) = sack.GapBlock(g);
            if (start <= lastEnd || end < start)
            {
                continue;
            }
            lastEnd = end;
            int last = Math.Min(end, _inflight.Count);
            for (int off = start; off <= last; off++)
            {
                ref var e = ref _inflight[off - 1];
                if (e.Acked)
                {
                    continue;
                }
                e.Acked = true;
                if (!e.Abandoned)
                {
                    bytesAcked += e.Length;
                }
                StopTracking(ref e);
                highestNewlyAcked = cum + (uint)off;
            }
            if (last >= start)
            {
                highestReported = cum + (uint)last;
            }
        }

        // Miss indications, HTNA rule (RFC 9260 §7.2.4); in fast recovery a cum advance counts all reported holes.
        uint limit = _inFastRecovery && cumAdvanced ? highestReported : highestNewlyAcked;
        bool fastRetransmit = false;
        for (int i = 0; i < _inflight.Count; i++)
        {
            uint tsn = cum + 1 + (uint)i;
            if (!SerialNumber.Lt(tsn, limit))
            {
                break;
            }
            ref var e = ref _inflight[i];
            if (e.Acked || e.Abandoned || !e.InFlight)
            {
                continue;
            }
            if (++e.MissCount >= 3 && !e.FastRetransmitted)
            {
                FastRetransmittedChunks++;
                e.FastRetransmitted = true;
                e.NeedsRetransmit = true;
                _retransmitPending++;
                e.InFlight = false;
                _flightSize -= e.Length;
                fastRetransmit = true;
            }
        }
        if (fastRetransmit)
        {
            if (!_inFastRecovery)
            {
                FastRecoveries++;
                _inFastRecovery = true;
                _ssthresh = Math.Max(_cwnd / 2, 4L * _o.Mtu);
                _cwnd = _ssthresh;
                _partialBytesAcked = 0;
                _recoveryExitTsn = _nextTsn - 1;
            }
            _fastRetransmitPending = true;
        }

        // Congestion window (RFC 9260 §7.2.1-2): grow only on a cum advance with the window in use, never in fast recovery.
        if (cumAdvanced && !_inFastRecovery && bytesAcked > 0)
        {
            bool fullyUsed = flightBefore + _o.Mtu >= _cwnd;
            if (_cwnd <= _ssthresh)
            {
                if (fullyUsed)
                {
                    _cwnd += Math.Min(bytesAcked, _o.Mtu);
                }
            }
            else
            {
                _partialBytesAcked += bytesAcked;
                if (_partialBytesAcked >= _cwnd && fullyUsed)
                {
                    _partialBytesAcked -= _cwnd;
                    _cwnd += _o.Mtu;
                }
            }
        }
        if (_inFastRecovery && SerialNumber.Ge(cum, _recoveryExitTsn))
        {
            _inFastRecovery = false;
        }
        _peerRwnd = Math.Max(0, (long)sack.AdvertisedReceiverWindow - _flightSize);
        if (bytesAcked > 0 || sack.AdvertisedReceiverWindow < _o.Mtu)
        {
            // Progress, or a live peer with a closed window: zero-window probes must not count as failures (RFC 9260 §6.1).
            _errorCount = 0;
        }
        if (_flightSize == 0)
        {
            _partialBytesAcked = 0;
        }
        if (_flightSize == 0 && _retransmitPending == 0)
        {
            _t3 = SerialNumber.Gt(_advancedPeerAckPoint, _cumAckTsn) || (_sendQueue.Count > 0 && _peerRwnd == 0) ? now + _rto.Rto : null;
        }
        else if (cumAdvanced)
        {
            _t3 = now + _rto.Rto;
        }
        UpdateAdvancedPeerAckPoint();
    }

    /// <summary>Moves the cumulative ack point to <paramref name="cum"/>; returns newly acked bytes.</summary>
    private long AdvanceCumulativeAck(uint cum, TimeSpan now, out uint highestNewlyAcked)
    {
        highestNewlyAcked = _cumAckTsn;
        long bytes = 0;
        TimeSpan? rtt = null;
        while (SerialNumber.Gt(cum, _cumAckTsn) && _inflight.Count > 0)
        {
            ref var e = ref _inflight[0];
            if (!e.Acked && !e.Abandoned)
            {
                bytes += e.Length;
                highestNewlyAcked = _cumAckTsn + 1;
                if (e.TransmitCount == 1 && !e.NeedsRetransmit)
                {
                    rtt = now - e.SentAt; // Karn: only chunks sent exactly once
                }
            }
            if (e.InFlight)
            {
                _flightSize -= e.Length;
            }
            if (e.NeedsRetransmit)
            {
                _retransmitPending--;
            }
            var m = e.Message;
            _inflight.RemoveFirst();
            ReleaseMessage(m);
            _cumAckTsn++;
        }
        if (SerialNumber.Gt(_cumAckTsn, _advancedPeerAckPoint))
        {
            _advancedPeerAckPoint = _cumAckTsn;
        }
        if (bytes > 0)
        {
            _errorCount = 0;
        }
        if (rtt is { } r && r >= TimeSpan.Zero)
        {
            _rto.AddSample(r);
        }
        return bytes;
    }

    /// <summary>The cumulative ack carried by SHUTDOWN (RFC 9260 §9.2).</summary>
    private void ProcessCumulativeAck(uint cum, TimeSpan now)
    {
        if (SerialNumber.Gt(cum, _cumAckTsn) && SerialNumber.Le(cum, _nextTsn - 1))
        {
            AdvanceCumulativeAck(cum, now, out _);
            if (_flightSize == 0 && _retransmitPending == 0)
            {
                _t3 = null;
            }
        }
    }

    private void OnT3Expired(TimeSpan now)
    {
        _t3 = null;
        if (_inflight.Count == 0 && _sendQueue.Count == 0)
        {
            return;
        }
        if (++_errorCount > _o.MaxRetransmissions)
        {
            Fail(WebRtcError.Timeout, "too many retransmissions (T3-rtx)");
            return;
        }
        T3Expiries++;
        AllowBurst();
        _rto.Backoff();
        _ssthresh = Math.Max(_cwnd / 2, 4L * _o.Mtu);
        _cwnd = _o.Mtu;
        _partialBytesAcked = 0;
        _inFastRecovery = false;
        for (int i = 0; i < _inflight.Count; i++)
        {
            ref var e = ref _inflight[i];
            if (e.Acked || e.Abandoned || !e.InFlight)
            {
                continue;
            }
            e.InFlight = false;
            _flightSize -= e.Length;
            e.NeedsRetransmit = true;
            _retransmitPending++;
        }
        if (SerialNumber.Gt(_advancedPeerAckPoint, _cumAckTsn))
        {
            _sendForwardTsn = true;
        }
        _t3 = now + _rto.Rto;
    }

    private void ReleaseAllSendState()
    {
        while (_inflight.Count > 0)
        {
            var m = _inflight[0].Message;
            _inflight.RemoveFirst();
            ReleaseMessage(m);
        }
        _sendQueue.Clear(ReleaseMessage);
        for (int i = 0; i < _outStreams.Length; i++)
        {
            if (_outStreams[i].Buffered != 0 && !_outStreams[i].BufferedChanged)
            {
                _outStreams[i].BufferedChanged = true;
                _bufferedChanges.Enqueue((ushort)i);
            }
            _outStreams[i].Buffered = 0;
            _outStreams[i].Queued = 0;
        }
        _unsentTotal = 0;
        _flightSize = 0;
        _retransmitPending = 0;
    }
}
