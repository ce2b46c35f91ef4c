using OspBridge.Quic.Frames;
using OspBridge.Quic.Transport;

namespace OspBridge.Quic.Core;

/// <summary>Loss detection and PTO (RFC 9002 §6), ACK processing, timers.</summary>
internal sealed partial class ConnectionCore
{
    private const int PacketThreshold = 3;
    private int _ptoCount;
    private TimeSpan _pacingDeadline = TimeSpan.MaxValue;

    private TimeSpan PtoDuration(int spaceIndex)
    {
        var d = _rtt.PtoBase;
        if (spaceIndex == 2) d += PeerMaxAckDelay;
        return d;
    }

    // Whole milliseconds (the transport parameter's unit, < 2^14 when valid): integer math, no double conversion — this
    // runs per received packet through EffectiveIdleTimeout (issue 14: TimeSpan.FromMilliseconds showed at 0.8 % of samples).
    private TimeSpan PeerMaxAckDelay => TimeSpan.FromTicks((long)Math.Min(PeerParameters?.MaxAckDelayMs ?? 25, 1UL << 20) * TimeSpan.TicksPerMillisecond);

    private void OnAckReceived(PacketSpace space, in AckFrame ack, TimeSpan now)
    {
        if (ack.LargestAcknowledged >= space.NextPn)
            throw QuicException.Transport(TransportErrorCode.ProtocolViolation, "ACK of an unsent packet");
        bool newlyAcked = false, ackElicitingAcked = false;
        SentPacket? largestNewly = null;
        foreach (var range in ack.GetRanges())
        {
            int i = space.LowerBound(range.Start);
            for (; i < space.Sent.Count; i++)
            {
                var p = space.Sent[i];
                if (p.Pn >= range.End) break;
                if (p.Done) continue;
                p.Done = true;
                newlyAcked = true;
                if (largestNewly is null || p.Pn > largestNewly.Pn) largestNewly = p;
                if (p.AckEliciting) { ackElicitingAcked = true; space.AckElicitingInFlight--; }
                OnPacketAcked(space, p, now);
            }
        }
        if ((long)ack.LargestAcknowledged > space.LargestAcked) space.LargestAcked = (long)ack.LargestAcknowledged;
        if (!newlyAcked) return;
        if (largestNewly!.Pn == ack.LargestAcknowledged && ackElicitingAcked && largestNewly.AckEliciting)
        {
            var ackDelay = space.Index == 2
                ? TimeSpan.FromTicks((long)Math.Min(ack.AckDelay > (1UL << 36) ? ulong.MaxValue : ack.AckDelay << (int)(PeerParameters?.AckDelayExponent ?? 3), 10_000_000UL) * 10)
                : TimeSpan.Zero;
            _rtt.Update(now - largestNewly.TimeSent, ackDelay, IsHandshakeConfirmed, PeerMaxAckDelay);
        }
        if (space.Index == 2 && ack.LargestAcknowledged >= _keyPhaseStartPn && !_keyUpdateAcked)
        {
            _keyUpdateAcked = true;
            _keyUpdateAckedAt = now;
        }
        DetectLostPackets(space, now);
        // RFC 9002 §6.2.1: reset PTO backoff (client: only once it knows the server validated its address)
        if (!IsClient || space.Index > 0 || State == CoreState.Connected) _ptoCount = 0;
        ReleaseAckedPackets(space);
    }

    private void ReleaseAckedPackets(PacketSpace space)
    {
        int before = space.SentHead;
        while (space.SentHead < space.Sent.Count && space.Sent[space.SentHead].Done)
        {
            ReturnSent(space.Sent[space.SentHead]);
            space.Sent[space.SentHead] = null!;
            space.SentHead++;
        }
        if (space.SentHead > 256 && space.SentHead * 2 > space.Sent.Count)
        {
            space.Sent.RemoveRange(0, space.SentHead);
            space.SentHead = 0;
        }
    }

    private void OnPacketAcked(PacketSpace space, SentPacket p, TimeSpan now)
    {
        if (p.InFlight) _cc.OnAcked(p.Size, p.TimeSent, now, _rtt.SmoothedRtt);
        if (p.MtuProbe) OnMtuProbeAcked(p.Size);
        if (p.LargestAckSent >= 0)
        {
            // our ACK was received: stop acknowledging what it covered (RFC 9000 §13.2.4)
            ulong floor = (ulong)p.LargestAckSent + 1;
            if (floor > space.DuplicateFloor && space.Received.Count > 8)
            {
                space.Received.RemoveBelow(floor - 1);
                space.DuplicateFloor = space.Received.IsEmpty ? floor : space.Received.Min;
            }
        }
        foreach (var f in p.Frames) OnFrameAcked(space, f);
    }

    private void OnPacketLost(PacketSpace space, SentPacket p, bool countLoss)
    {
        if (countLoss) PacketsLost++;
        foreach (var f in p.Frames) OnFrameLost(space, f);
    }

    private void DetectLostPackets(PacketSpace space, TimeSpan now)
    {
        space.LossTime = TimeSpan.MaxValue;
        if (space.LargestAcked < 0) return;
        var rttMax = _rtt.LatestRtt > _rtt.SmoothedRtt ? _rtt.LatestRtt : _rtt.SmoothedRtt;
        var lossDelay = rttMax * 9 / 8;
        if (lossDelay < RttEstimator.Granularity) lossDelay = RttEstimator.Granularity;
        var lostSendTime = now - lossDelay;
        TimeSpan largestLostTime = TimeSpan.MinValue;
        bool anyLost = false;
        for (int i = space.SentHead; i < space.Sent.Count; i++)
        {
            var p = space.Sent[i];
            if (p.Pn > (ulong)space.LargestAcked) break;
            if (p.Done) continue;
            if (p.TimeSent <= lostSendTime || (ulong)space.LargestAcked >= p.Pn + PacketThreshold)
            {
                p.Done = true;
                if (p.AckEliciting) space.AckElicitingInFlight--;
                if (p.MtuProbe)
                {
                    // RFC 9000 §14.4: a lost PMTU probe is no congestion signal
                    if (p.InFlight) _cc.OnLostBytes(p.Size);
                    OnMtuProbeLost(p.Size);
                    continue;
                }
                if (p.InFlight)
                {
                    _cc.OnLostBytes(p.Size);
                    anyLost = true;
                    if (p.TimeSent > largestLostTime) largestLostTime = p.TimeSent;
                }
                OnPacketLost(space, p, countLoss: true);
            }
            else
            {
                var t = p.TimeSent + lossDelay;
                if (t < space.LossTime) space.LossTime = t;
            }
        }
        if (anyLost) _cc.OnCongestionEvent(largestLostTime, now);
    }

    private (TimeSpan Time, int Space) LossTimeAndSpace()
    {
        var t = TimeSpan.MaxValue; int s = -1;
        foreach (var sp in _spaces)
            if (!sp.Discarded && sp.LossTime < t) { t = sp.LossTime; s = sp.Index; }
        return (t, s);
    }

    private (TimeSpan Time, int Space) PtoTimeAndSpace(TimeSpan now)
    {
        var duration = _rtt.PtoBase * (1 << Math.Min(_ptoCount, 16));
        bool anyInFlight = false;
        foreach (var sp in _spaces) if (!sp.Discarded && sp.AckElicitingInFlight > 0) anyInFlight = true;
        if (!anyInFlight)
        {
            // client anti-deadlock (RFC 9002 §6.2.2.1)
            if (IsClient && !IsHandshakeConfirmed)
            {
                int s = _spaces[1].WriteKeys is not null && !_spaces[1].Discarded ? 1 : 0;
                if (_spaces[s].Discarded) return (TimeSpan.MaxValue, -1);
                return (now + duration, s);
            }
            return (TimeSpan.MaxValue, -1);
        }
        var best = TimeSpan.MaxValue; int bs = -1;
        foreach (var sp in _spaces)
        {
            if (sp.Discarded || sp.AckElicitingInFlight <= 0) continue;
            if (sp.Index == 2)
            {
                if (!IsHandshakeConfirmed) continue;
                duration += PeerMaxAckDelay * (1 << Math.Min(_ptoCount, 16));
            }
            var t = sp.LastAckElicitingSent + duration;
            if (t < best) { best = t; bs = sp.Index; }
        }
        return (best, bs);
    }

    private TimeSpan _ptoAnchor = TimeSpan.MaxValue; // cached PTO deadline for the anti-deadlock case

    /// <inheritdoc/>
    public TimeSpan? NextDeadline
    {
        get
        {
            var t = NextTimeout(_now);
            return t == TimeSpan.MaxValue ? null : t;
        }
    }

    /// <summary>When <see cref="HandleDeadline"/> must be called next (TimeSpan.MaxValue: never).</summary>
    private TimeSpan NextTimeout(TimeSpan now)
    {
        if (State == CoreState.Closed) return TimeSpan.MaxValue;
        if (State >= CoreState.Closing) return _closeDeadline;
        var t = _idleDeadline;
        if (State == CoreState.Handshaking && _handshakeDeadline < t) t = _handshakeDeadline;
        if (KeepAliveDeadline < t) t = KeepAliveDeadline;
        var ld = LossDetectionDeadlineCached(now);
        if (ld < t) t = ld;
        foreach (var sp in _spaces) if (!sp.Discarded && sp.AckNeeded && sp.AckDeadline < t) t = sp.AckDeadline;
        if (_pacingDeadline < t) t = _pacingDeadline;
        if (_prevKeysDiscardAt < t) t = _prevKeysDiscardAt;
        return t;
    }

    private TimeSpan LossDetectionDeadlineCached(TimeSpan now)
    {
        var (lt, _) = LossTimeAndSpace();
        if (lt != TimeSpan.MaxValue) return lt;
        if (!IsClient && !_addressValidated && AmplificationBudget <= 0) return TimeSpan.MaxValue;
        bool anyInFlight = false;
        foreach (var sp in _spaces) if (!sp.Discarded && sp.AckElicitingInFlight > 0) anyInFlight = true;
        if (!anyInFlight)
        {
            if (!(IsClient && !IsHandshakeConfirmed)) return TimeSpan.MaxValue;
            if (_ptoAnchor == TimeSpan.MaxValue) _ptoAnchor = now + _rtt.PtoBase * (1 << Math.Min(_ptoCount, 16));
            return _ptoAnchor;
        }
        _ptoAnchor = TimeSpan.MaxValue;
        return PtoTimeAndSpace(now).Time;
    }

    private TimeSpan _handshakeDeadline = TimeSpan.MaxValue;
    private TimeSpan _lastReceived;
    private TimeSpan _lastKeepAlive;

    private void StartHandshakeClock(TimeSpan now)
    {
        if (_handshakeDeadline == TimeSpan.MaxValue && State == CoreState.Handshaking && _options.HandshakeTimeout > TimeSpan.Zero)
            _handshakeDeadline = now + _options.HandshakeTimeout;
    }

    /// <summary>When a keep-alive PING is due: the interval after the later of the last receipt and the last PING.</summary>
    private TimeSpan KeepAliveDeadline =>
        _options.KeepAliveInterval > TimeSpan.Zero && State == CoreState.Connected
            ? (_lastReceived > _lastKeepAlive ? _lastReceived : _lastKeepAlive) + _options.KeepAliveInterval
            : TimeSpan.MaxValue;

    /// <summary>Runs expired timers (handshake, idle, keep-alive, loss detection/PTO, delayed ACK, closing).</summary>
    public void HandleDeadline(TimeSpan now)
    {
        Advance(now);
        if (State == CoreState.Closed) return;
        if (State >= CoreState.Closing)
        {
            if (now >= _closeDeadline) SetClosed();
            return;
        }
        if (State == CoreState.Handshaking && now >= _handshakeDeadline)
        {
            CloseReason = new QuicException(QuicError.ConnectionTimeout, null, "handshake timed out");
            FailAllStreams();
            SetClosed();
            return;
        }
        if (now >= KeepAliveDeadline)
        {
            SendPing();
            _lastKeepAlive = now;
        }
        if (now >= _idleDeadline)
        {
            CloseReason = new QuicException(QuicError.ConnectionIdle, null, State == CoreState.Handshaking ? "handshake timed out" : "connection idle timeout");
            if (State == CoreState.Handshaking) CloseReason = new QuicException(QuicError.ConnectionTimeout, null, "handshake timed out");
            FailAllStreams();
            SetClosed();
            return;
        }
        if (now >= _prevKeysDiscardAt)
        {
            _prevReadKeys?.Dispose();
            _prevReadKeys = null;
            _prevKeysDiscardAt = TimeSpan.MaxValue;
        }
        foreach (var sp in _spaces)
            if (sp.AckNeeded && now >= sp.AckDeadline) sp.AckImmediately = true;
        if (_pacingDeadline <= now) _pacingDeadline = TimeSpan.MaxValue;

        var (lt, ls) = LossTimeAndSpace();
        if (lt != TimeSpan.MaxValue)
        {
            if (now >= lt) DetectLostPackets(_spaces[ls], now);
            return;
        }
        var deadline = LossDetectionDeadlineCached(now);
        if (now < deadline) return;
        _ptoAnchor = TimeSpan.MaxValue;
        var (pt, ps) = PtoTimeAndSpace(now);
        if (ps < 0)
        {
            if (!(IsClient && !IsHandshakeConfirmed)) return;
            ps = _spaces[1].WriteKeys is not null && !_spaces[1].Discarded ? 1 : 0;
        }
        _ptoCount++;
        if (ps == 2 && _ptoCount >= BlackHolePtoCount) OnMtuBlackHole();
        var space = _spaces[ps];
        space.ProbesPending = 2;
        if (ps < 2) RequeueCrypto(space);
        else RequeueOldestData(space);
        // with coalescing, also probe Initial when Handshake is probed and vice versa (helps the handshake)
        if (ps == 1 && !_spaces[0].Discarded && _spaces[0].AckElicitingInFlight > 0) { _spaces[0].ProbesPending = 1; RequeueCrypto(_spaces[0]); }
    }

    /// <summary>On PTO in a handshake space, queue all unacknowledged CRYPTO data again.</summary>
    private static void RequeueCrypto(PacketSpace space)
    {
        for (int i = space.SentHead; i < space.Sent.Count; i++)
        {
            var p = space.Sent[i];
            if (p.Done) continue;
            foreach (var f in p.Frames)
                if (f.Kind == SentFrameKind.Crypto) space.CryptoSend.OnLost(f.Offset, f.Length, false);
        }
    }

    /// <summary>On PTO in the application space, resend the oldest unacknowledged packet's data as the probe.</summary>
    private void RequeueOldestData(PacketSpace space)
    {
        int n = 0;
        for (int i = space.SentHead; i < space.Sent.Count && n < 2; i++)
        {
            var p = space.Sent[i];
            if (p.Done || !p.AckEliciting) continue;
            foreach (var f in p.Frames) if (f.Kind is SentFrameKind.Stream) OnFrameLost(space, f);
            n++;
        }
    }
}
