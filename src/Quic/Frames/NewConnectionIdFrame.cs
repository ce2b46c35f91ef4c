using OspBridge.Quic.Internal;

namespace OspBridge.Quic.Frames;

/// <summary>
/// NEW_CONNECTION_ID (RFC 9000 §19.15):
/// <c>Type (i) = 0x18 | Sequence Number (i) | Retire Prior To (i) | Length (8) = 1..20 | Connection ID | Stateless Reset Token (128)</c>.
/// </summary>
internal ref struct NewConnectionIdFrame
{
    public ulong SequenceNumber, RetirePriorTo;
    public ReadOnlySpan<byte> ConnectionId;
    public ReadOnlySpan<byte> StatelessResetToken;

    public static bool TryRead(ref QuicReader r, out NewConnectionIdFrame f)
    {
        f = default; int s = r.Position;
        if (r.TryReadVarint(out f.SequenceNumber) && r.TryReadVarint(out f.RetirePriorTo) && r.TryReadByte(out byte len)
            && len is >= 1 and <= 20 && r.TryReadBytes(len, out f.ConnectionId) && r.TryReadBytes(16, out f.StatelessResetToken)
            && f.RetirePriorTo <= f.SequenceNumber) return true;
        r.Rewind(s); return false;
    }

    public readonly bool TryWrite(ref QuicWriter w)
    {
        int s = w.Position;
        if (w.TryWriteByte((byte)FrameType.NewConnectionId) && w.TryWriteVarint(SequenceNumber) && w.TryWriteVarint(RetirePriorTo)
            && w.TryWriteByte((byte)ConnectionId.Length) && w.TryWriteBytes(ConnectionId) && w.TryWriteBytes(StatelessResetToken[..16])) return true;
        w.Rewind(s); return false;
    }
}
