using OspBridge.Quic.Internal;

namespace OspBridge.Quic.Frames;

/// <summary>NEW_TOKEN (RFC 9000 §19.7): <c>Type (i) = 0x07 | Token Length (i) | Token (..)</c>; token must be non-empty.</summary>
internal ref struct NewTokenFrame
{
    public ReadOnlySpan<byte> Token;

    public static bool TryRead(ref QuicReader r, out NewTokenFrame f)
    {
        f = default; int s = r.Position;
        if (r.TryReadLengthPrefixed(4096, out f.Token) && !f.Token.IsEmpty) return true;
        r.Rewind(s); return false;
    }

    public readonly bool TryWrite(ref QuicWriter w)
    {
        int s = w.Position;
        if (w.TryWriteByte((byte)FrameType.NewToken) && w.TryWriteVarint((ulong)Token.Length) && w.TryWriteBytes(Token)) return true;
        w.Rewind(s); return false;
    }
}
