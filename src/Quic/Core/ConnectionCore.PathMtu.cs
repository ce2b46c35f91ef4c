using OspBridge.Quic.Frames;
using OspBridge.Quic.Internal;
using OspBridge.Quic.Packets;
using OspBridge.Quic.Protection;
using OspBridge.Quic.Transport;

namespace OspBridge.Quic.Core;

/// <summary>
/// Path MTU discovery (RFC 9000 §14.3, RFC 8899): once the handshake is confirmed and while the application is
/// sending, one probe at a time — a 1-RTT packet of PING + PADDING exactly the probe size — goes out ahead of the
/// data; an acknowledged probe raises the datagram size (and the congestion controller's segment size), a lost one
/// is no congestion signal. Repeated PTOs at a raised size fall back to the base size (black hole, RFC 8899 §4.3).
/// </summary>
internal sealed partial class ConnectionCore
{
    /// <summary>Consecutive PTOs after which a raised datagram size counts as a black hole.</summary>
    private const int BlackHolePtoCount = 3;

    private PathMtuSearch? _pmtu;

    /// <summary>The largest datagram this connection sends now (the base size until discovery confirms more).</summary>
    public int CurrentMaxDatagramSize => _maxDatagram;

    /// <summary>True when a Path MTU probe should lead the next datagram written into a buffer of <paramref name="room"/> bytes.</summary>
    private bool MtuProbeDue(int room)
    {
        if (_pmtu is not { WantsProbe: true } search || State != CoreState.Connected || !IsHandshakeConfirmed) return false;
        int size = search.ProbeSize;
        if (size > room || !_cc.CanSend(size) || _spaces[2].WriteKeys is null) return false;
        foreach (var sp in _spaces) if (!sp.Discarded && sp.ProbesPending > 0) return false; // PTO probes first
        return HasAppDataToSend(); // probe only while data follows: its loss is then found by the packets after it
    }

    /// <summary>Writes and seals one probe datagram (PING + PADDING, exactly the probe size) at the start of <paramref name="buffer"/>.</summary>
    private int WriteMtuProbe(Span<byte> buffer, TimeSpan now)
    {
        int size = _pmtu!.ProbeSize;
        var space = _spaces[2];
        ulong pn = space.NextPn;
        int pnLen = PacketNumber.EncodedLength(pn, space.LargestAcked);
        var packet = buffer[..size];
        int payloadStart = WriteHeader(packet, space, pn, pnLen, out int lengthField, out int pnOffset);
        var w = new QuicWriter(packet[..(size - PacketKeys.TagLength)]);
        w.Advance(payloadStart);
        PingFrame.TryWrite(ref w);
        PaddingFrame.TryWrite(ref w, w.Remaining);
        var rec = RentSent();
        rec.AckEliciting = true;
        rec.MtuProbe = true;
        rec.Frames.Add(new SentFrame { Kind = SentFrameKind.Ping });
        ref var pending = ref _pendingScratch[0];
        int total = Complete(ref pending, space, 0, pn, pnLen, pnOffset, lengthField, payloadStart, w.Position, rec);
        pending.Start = 0;
        Seal(buffer, ref pending, now);
        _pmtu.OnProbeSent();
        Counters.MtuProbesSent++;
        DatagramsSent++;
        BytesSent += total;
        return total;
    }

    private void OnMtuProbeAcked(int size)
    {
        Counters.MtuProbesAcked++;
        if (_pmtu is not null && _pmtu.OnProbeAcked(size)) UseConfirmedSize();
    }

    private void OnMtuProbeLost(int size)
    {
        Counters.MtuProbesLost++;
        _pmtu?.OnProbeLost(size);
    }

    private void OnMtuBlackHole()
    {
        if (_pmtu is not null && _pmtu.OnBlackHole()) UseConfirmedSize();
    }

    /// <summary>The datagram size (and the congestion controller's segment size) follows the search's confirmed size.</summary>
    private void UseConfirmedSize()
    {
        _maxDatagram = _pmtu!.Current;
        _cc.SetMaxDatagramSize(_maxDatagram);
    }
}
