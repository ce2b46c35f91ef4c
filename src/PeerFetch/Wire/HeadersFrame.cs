using System.Buffers.Binary;
using System.Text;

namespace OspBridge.PeerFetch.Wire;

/// <summary>
/// HEADERS (type 0x1), stream ≠ 0: request head (opens a stream), response head, or trailers. Flags: END_STREAM (0x1).
/// <code>
///  Count (16)
///  Field × Count: Name Length (8) | Name (1..255 octets) | Value Length (16) | Value (octets)
/// </code>
/// Names are lowercase; pseudo-fields first: <c>:method</c>, <c>:path</c>, <c>:authority</c> (request) or
/// <c>:status</c> (response); trailers carry none. Values are octets without CR, LF or NUL, mapped to strings as
/// ISO-8859-1. Limits: the payload ≤ the receiver's MaxHeaderBlock, Count ≤ <see cref="MaxFields"/>.
/// </summary>
internal static class HeadersFrame
{
    public const int MaxFields = 256;

    /// <summary>Parses a header block; false (with nothing returned) on any malformed field.</summary>
    public static bool TryRead(FrameHeader header, ReadOnlySpan<byte> payload, out List<KeyValuePair<string, string>> fields)
    {
        fields = [];
        if (header.StreamId == 0 || payload.Length < 2) return false;
        int count = BinaryPrimitives.ReadUInt16BigEndian(payload);
        if (count > MaxFields) return false;
        // Each field takes at least 4 bytes: check the count against the payload before allocating anything.
        if (count * 4 > payload.Length - 2) return false;
        var list = new List<KeyValuePair<string, string>>(count);
        int o = 2;
        bool regularSeen = false;
        for (int i = 0; i < count; i++)
        {
            if (payload.Length - o < 1) return false;
            int nameLength = payload[o++];
            if (nameLength == 0 || payload.Length - o < nameLength + 2) return false;
            var name = payload.Slice(o, nameLength);
            o += nameLength;
            int valueLength = BinaryPrimitives.ReadUInt16BigEndian(payload[o..]);
            o += 2;
            if (payload.Length - o < valueLength) return false;
            var value = payload.Slice(o, valueLength);
            o += valueLength;
            bool pseudo = name[0] == (byte)':';
            if (pseudo && regularSeen) return false;
            regularSeen |= !pseudo;
            if (!ValidName(pseudo ? name[1..] : name) || !ValidValue(value)) return false;
            list.Add(new(Name(name), Encoding.Latin1.GetString(value)));
        }
        if (o != payload.Length) return false;
        fields = list;
        return true;
    }

    public static byte[] Create(uint streamId, IReadOnlyList<KeyValuePair<string, string>> fields, bool endStream)
    {
        int length = PayloadLength(fields);
        var frame = new byte[FrameHeader.Size + length];
        Write(frame, streamId, fields, endStream, length);
        return frame;
    }

    /// <summary>The payload length of a HEADERS frame of <paramref name="fields"/>; throws when a field or the block is too long.</summary>
    public static int PayloadLength(IReadOnlyList<KeyValuePair<string, string>> fields)
    {
        if (fields.Count > MaxFields) throw new PeerFetchException(PeerFetchError.LimitExceeded, $"{fields.Count} header fields (max {MaxFields})");
        int length = 2;
        for (int i = 0; i < fields.Count; i++)
        {
            var f = fields[i];
            int nl = Encoding.Latin1.GetByteCount(f.Key), vl = Encoding.Latin1.GetByteCount(f.Value);
            if (nl is 0 or > 255 || vl > ushort.MaxValue) throw new PeerFetchException(PeerFetchError.LimitExceeded, $"header field '{f.Key}' too long");
            length += 1 + nl + 2 + vl;
        }
        if (length > FrameHeader.MaxLength) throw new PeerFetchException(PeerFetchError.LimitExceeded, "header block too long");
        return length;
    }

    /// <summary>
    /// Writes the whole frame (header and payload of <paramref name="length"/> = <see cref="PayloadLength"/> bytes) at the start of
    /// <paramref name="destination"/>; returns its length (the bytes of <see cref="Create"/>). A name that is already
    /// lowercase ASCII (the usual case) is encoded as it is, not lowered into a new string first.
    /// </summary>
    public static int Write(Span<byte> destination, uint streamId, IReadOnlyList<KeyValuePair<string, string>> fields, bool endStream, int length)
    {
        new FrameHeader(length, FrameType.Headers, endStream ? FrameFlags.EndStream : FrameFlags.None, streamId).Write(destination);
        var p = destination.Slice(FrameHeader.Size, length);
        BinaryPrimitives.WriteUInt16BigEndian(p, (ushort)fields.Count);
        int o = 2;
        for (int i = 0; i < fields.Count; i++)
        {
            var f = fields[i];
            string name = WireName(f.Key);
            int nl = Encoding.Latin1.GetBytes(name, p[(o + 1)..]);
            p[o] = (byte)nl;
            o += 1 + nl;
            int vl = Encoding.Latin1.GetBytes(f.Value, p[(o + 2)..]);
            BinaryPrimitives.WriteUInt16BigEndian(p[o..], (ushort)vl);
            o += 2 + vl;
        }
        return FrameHeader.Size + length;
    }

    /// <summary>A field name as it goes on the wire: lowercase; an already-lowercase ASCII name (the usual case) is returned as it is, not copied.</summary>
    public static string WireName(string name) =>
        name.AsSpan().ContainsAnyInRange('A', 'Z') || !Ascii.IsValid(name) ? name.ToLowerInvariant() : name;

    /// <summary>The usual names as shared strings (no string per field per request for them); others decoded.</summary>
    private static string Name(ReadOnlySpan<byte> name)
    {
        foreach (var known in KnownNames)
            if (name.Length == known.Length && Ascii.Equals(name, known)) return known;
        return Encoding.Latin1.GetString(name);
    }

    private static readonly string[] KnownNames =
    [
        ":method", ":path", ":authority", ":status", "accept", "accept-encoding", "accept-language", "cache-control",
        "content-length", "content-type", "content-encoding", "date", "etag", "host", "last-modified", "server",
        "user-agent", "vary", "location", "set-cookie", "cookie", "authorization", "transfer-encoding", "connection",
    ];

    /// <summary>RFC 9110 token characters, lowercase only.</summary>
    private static bool ValidName(ReadOnlySpan<byte> name)
    {
        if (name.IsEmpty) return false;
        foreach (byte b in name)
        {
            bool ok = b is >= (byte)'a' and <= (byte)'z' or >= (byte)'0' and <= (byte)'9'
                || "!#$%&'*+-.^_`|~"u8.Contains(b);
            if (!ok) return false;
        }
        return true;
    }

    private static bool ValidValue(ReadOnlySpan<byte> value) => value.IndexOfAny("\r\n\0"u8) < 0;
}
