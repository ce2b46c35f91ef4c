using OspBridge.Quic.Internal;

namespace OspBridge.Quic.Frames;

/// <summary>PADDING (RFC 9000 §19.1): <c>Type (i) = 0x00</c>; consecutive zero bytes.</summary>
internal static class PaddingFrame
{
    /// <summary>Skips a run of padding bytes (the first type byte already consumed).</summary>
    public static void Skip(ref QuicReader r)
    {
        var rest = r.RemainingSpan;
        int n = rest.IndexOfAnyExcept((byte)0);
        r.Advance(n < 0 ? rest.Length : n);
    }

    public static bool TryWrite(ref QuicWriter w, int count)
    {
        if (w.Remaining < count) return false;
        w.Buffer.Slice(w.Position, count).Clear();
        w.Advance(count);
        return true;
    }
}
