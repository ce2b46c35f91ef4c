using System.Buffers.Binary;
using OspBridge.WebRtc.Sctp.Parameters;

namespace OspBridge.WebRtc.Sctp.Chunks;

/// <summary>
/// OPERATION ERROR (RFC 9260 §3.3.10); the same cause TLVs appear in ABORT.
/// <code>
///  | Type = 9 | Chunk Flags | Length |
///  | one or more Error Causes         |
///  Error Cause: | Cause Code (16) | Cause Length (16) | Cause-Specific Information |
/// </code>
/// </summary>
internal static class ErrorChunk
{
    /// <summary>Returns the first cause code in a list of causes, or null when none parses.</summary>
    public static ushort? FirstCause(ReadOnlySpan<byte> causes)
    {
        var r = new SctpParameterReader(causes);
        return r.TryRead(out var code, out _) ? code : null;
    }

    /// <summary>Validates that <paramref name="causes"/> is a well-formed list of causes.</summary>
    public static bool TryValidate(ReadOnlySpan<byte> causes)
    {
        var r = new SctpParameterReader(causes);
        while (r.TryRead(out _, out _))
        {
        }
        return r.AtEnd;
    }

    /// <summary>Writes an ERROR chunk with one cause.</summary>
    public static int Write(Span<byte> destination, ushort causeCode, ReadOnlySpan<byte> causeInfo)
    {
        WriteCause(destination.Slice(4), causeCode, causeInfo);
        return SctpChunkReader.WriteHeader(destination, SctpChunkType.Error, 0, 4 + causeInfo.Length);
    }

    /// <summary>Writes one error cause TLV; returns its padded length.</summary>
    public static int WriteCause(Span<byte> destination, ushort causeCode, ReadOnlySpan<byte> causeInfo) =>
        SctpParameterReader.Write(destination, causeCode, causeInfo);

    /// <summary>Writes a Stale Cookie cause (measure of staleness in microseconds).</summary>
    public static int WriteStaleCookieCause(Span<byte> destination, uint stalenessMicroseconds)
    {
        Span<byte> v = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(v, stalenessMicroseconds);
        return WriteCause(destination, SctpErrorCause.StaleCookie, v);
    }
}
