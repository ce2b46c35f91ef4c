using OspBridge.Quic.Internal;

namespace OspBridge.Quic.Frames;

/// <summary>PATH_CHALLENGE (RFC 9000 §19.17): <c>Type (i) = 0x1a | Data (64)</c>.</summary>
internal struct PathChallengeFrame
{
    public ulong Data;

    public static bool TryRead(ref QuicReader r, out PathChallengeFrame f)
    {
        f = default; if (!r.TryReadBytes(8, out var d)) return false;
        f.Data = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(d); return true;
    }

    public readonly bool TryWrite(ref QuicWriter w) => PathFrames.TryWrite(ref w, FrameType.PathChallenge, Data);
}

/// <summary>PATH_RESPONSE (RFC 9000 §19.18): <c>Type (i) = 0x1b | Data (64)</c> echoing a PATH_CHALLENGE.</summary>
internal struct PathResponseFrame
{
    public ulong Data;

    public static bool TryRead(ref QuicReader r, out PathResponseFrame f)
    {
        f = default; if (!r.TryReadBytes(8, out var d)) return false;
        f.Data = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(d); return true;
    }

    public readonly bool TryWrite(ref QuicWriter w) => PathFrames.TryWrite(ref w, FrameType.PathResponse, Data);
}

internal static class PathFrames
{
    public static bool TryWrite(ref QuicWriter w, FrameType type, ulong data)
    {
        if (w.Remaining < 9) return false;
        w.TryWriteByte((byte)type);
        w.TryWriteUInt32((uint)(data >> 32));
        w.TryWriteUInt32((uint)data);
        return true;
    }
}
