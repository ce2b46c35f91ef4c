namespace OspBridge.Quic.Core;

internal enum SentFrameKind : byte
{
    Stream, Crypto, MaxData, MaxStreamData, MaxStreamsBidi, MaxStreamsUni, ResetStream, StopSending,
    NewConnectionId, RetireConnectionId, HandshakeDone, Ping, DataBlocked, StreamDataBlocked, StreamsBlocked,
}

/// <summary>What a sent packet carried, so it can be retransmitted or released when lost or acknowledged.</summary>
internal struct SentFrame
{
    public SentFrameKind Kind;
    public bool Fin;
    public int Length;
    public ulong StreamId;
    public ulong Offset;
}

/// <summary>Record of one sent packet (pooled and reused; frames list is cleared, not reallocated).</summary>
internal sealed class SentPacket
{
    public ulong Pn;
    public TimeSpan TimeSent;
    public int Size;
    public bool AckEliciting;
    public bool InFlight;
    public bool Done;
    /// <summary>A Path MTU probe (PING + PADDING): its loss is no congestion signal (RFC 9000 §14.4).</summary>
    public bool MtuProbe;
    /// <summary>Largest packet number acknowledged by an ACK frame in this packet, or -1.</summary>
    public long LargestAckSent = -1;
    public readonly List<SentFrame> Frames = new(4);

    public void Reset()
    {
        Frames.Clear();
        Done = false;
        MtuProbe = false;
        AckEliciting = InFlight = false;
        LargestAckSent = -1;
    }
}
