using OspBridge.Quic.Internal;

namespace OspBridge.Quic.Frames;

/// <summary>
/// CONNECTION_CLOSE (RFC 9000 §19.19):
/// <c>Type (i) = 0x1c..0x1d | Error Code (i) | [Frame Type (i), only 0x1c] | Reason Phrase Length (i) | Reason Phrase</c>.
/// 0x1c carries a transport error, 0x1d an application error.
/// </summary>
internal ref struct ConnectionCloseFrame
{
    public const int MaxReasonLength = 1024;

    public bool IsApplication;
    public ulong ErrorCode;
    public ulong FrameType;
    public ReadOnlySpan<byte> Reason;

    public static bool TryRead(ref QuicReader r, bool application, out ConnectionCloseFrame f)
    {
        f = default; int s = r.Position;
        f.IsApplication = application;
        if (r.TryReadVarint(out f.ErrorCode) && (application || r.TryReadVarint(out f.FrameType))
            && r.TryReadLengthPrefixed(ulong.MaxValue, out f.Reason)) return true;
        r.Rewind(s); return false;
    }

    public readonly bool TryWrite(ref QuicWriter w)
    {
        int s = w.Position;
        var reason = Reason.Length > MaxReasonLength ? Reason[..MaxReasonLength] : Reason;
        if (w.TryWriteByte((byte)(IsApplication ? Frames.FrameType.ConnectionCloseApp : Frames.FrameType.ConnectionClose))
            && w.TryWriteVarint(ErrorCode) && (IsApplication || w.TryWriteVarint(FrameType))
            && w.TryWriteVarint((ulong)reason.Length) && w.TryWriteBytes(reason)) return true;
        w.Rewind(s); return false;
    }
}
