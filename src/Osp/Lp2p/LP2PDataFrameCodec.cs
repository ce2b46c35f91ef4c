using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using OspBridge.Osp.Cbor;
using OspBridge.Osp.Messages;

namespace OspBridge.Osp.Lp2p;

/// <summary>
/// The LP2P data channel's hot path for <c>data-frame</c> (type key 24): encoding straight into the caller's buffer
/// (one copy of the payload, the same bytes as the generated encoder) and a span parser for the usual shape of a
/// received frame, so a payload is copied once from the stream buffer into a pooled array instead of being decoded into
/// a fresh array (docs/benchmarks.md, PeerFetch, session 8). Anything the parser does not recognise falls back to the generated decoder.
/// </summary>
internal static class LP2PDataFrameCodec
{
    /// <summary>The QUIC varint of type key 24 (one byte).</summary>
    private const byte TypeKeyByte = 24;

    /// <summary>Bytes of a data-frame carrying <paramref name="payloadLength"/> payload bytes, type key included.</summary>
    public static int EncodedLength(int payloadLength) => 1 + 1 + 1 + 1 + 1 + ByteStringHeaderLength(payloadLength) + payloadLength;

    /// <summary>
    /// Writes type key 24 and the CBOR map <c>{0: encoding-id, 4: payload}</c> — what the generated
    /// <see cref="DataFrame"/> encoder writes for a frame with only those two keys. Returns the bytes written.
    /// </summary>
    public static int Encode(Span<byte> destination, ulong encodingId, ReadOnlySpan<byte> payload)
    {
        if (encodingId > 23) throw new ArgumentOutOfRangeException(nameof(encodingId), "encoding ids are 0..2");
        int o = 0;
        destination[o++] = TypeKeyByte;
        destination[o++] = 0xA2; // map(2)
        destination[o++] = 0x00; // key 0
        destination[o++] = (byte)encodingId;
        destination[o++] = 0x04; // key 4
        o += WriteByteStringHeader(destination[o..], payload.Length);
        payload.CopyTo(destination[o..]);
        return o + payload.Length;
    }

    /// <summary>Largest header <see cref="WriteHeader"/> writes (type key, map head, key 0, encoding-id, key 4, 5-byte string head).</summary>
    public const int MaxHeaderLength = 10;

    /// <summary>Bytes of the header (everything before the payload) of a data-frame carrying <paramref name="payloadLength"/> bytes.</summary>
    public static int HeaderLength(int payloadLength) => 5 + ByteStringHeaderLength(payloadLength);

    /// <summary>
    /// Writes the header of a data-frame (what <see cref="Encode"/> writes before the payload) into the
    /// <see cref="HeaderLength"/> bytes of <paramref name="destination"/>; the payload follows it in the same buffer.
    /// </summary>
    public static void WriteHeader(Span<byte> destination, ulong encodingId, int payloadLength)
    {
        if (encodingId > 23) throw new ArgumentOutOfRangeException(nameof(encodingId), "encoding ids are 0..2");
        destination[0] = TypeKeyByte;
        destination[1] = 0xA2; // map(2)
        destination[2] = 0x00; // key 0
        destination[3] = (byte)encodingId;
        destination[4] = 0x04; // key 4
        WriteByteStringHeader(destination[5..], payloadLength);
    }

    /// <summary>What <see cref="TryReadHeader"/> found at the start of the bytes.</summary>
    public enum HeaderStatus
    {
        /// <summary>A data-frame header of the usual shape: the payload follows and ends the frame.</summary>
        Ok,
        /// <summary>So far the usual shape, but the header is not complete yet.</summary>
        NeedMore,
        /// <summary>Another message, or a data-frame of another shape: decode it the general way.</summary>
        NotSimple,
    }

    /// <summary>
    /// Parses the header of a data-frame at the start of <paramref name="data"/> (a stream's unread bytes, type key
    /// included) when it has the usual shape — type key 24, a definite map of at most 23 entries whose keys are 0..3
    /// (unsigned integers, key 0 present) each at most once, then key 4 as the <em>last</em> entry with a definite byte
    /// string of at most 2^32-1 bytes — so the payload can be read straight into its own buffer. The frame ends with the
    /// payload: <paramref name="headerLength"/> + <paramref name="payloadLength"/> bytes in all.
    /// </summary>
    public static HeaderStatus TryReadHeader(ReadOnlySpan<byte> data, out ulong encodingId, out int headerLength, out long payloadLength)
    {
        encodingId = 0;
        headerLength = 0;
        payloadLength = 0;
        if (data.IsEmpty) return HeaderStatus.NeedMore;
        if (data[0] != TypeKeyByte) return HeaderStatus.NotSimple;
        if (data.Length < 2) return HeaderStatus.NeedMore;
        if ((data[1] & 0xE0) != 0xA0 || (data[1] & 0x1F) > 23) return HeaderStatus.NotSimple;
        int entries = data[1] & 0x1F;
        int o = 2;
        int seen = 0;
        for (int i = 0; i < entries; i++)
        {
            if (o >= data.Length) return HeaderStatus.NeedMore;
            int key = data[o];
            if (key > 4 || (seen & (1 << key)) != 0) return HeaderStatus.NotSimple;
            seen |= 1 << key;
            o++;
            if (o >= data.Length) return HeaderStatus.NeedMore;
            int head = data[o];
            int info = head & 0x1F;
            int need = info switch { < 24 => 0, 24 => 1, 25 => 2, 26 => 4, 27 => 8, _ => -1 };
            if (key == 4)
            {
                // The payload must be last (then the frame ends with it), after key 0; at most 4-byte lengths.
                if ((head & 0xE0) != 0x40 || need < 0 || need > 4 || i != entries - 1 || (seen & 1) == 0) return HeaderStatus.NotSimple;
            }
            else if ((head & 0xE0) != 0x00 || need < 0)
            {
                return HeaderStatus.NotSimple;
            }

            if (data.Length - o - 1 < need) return HeaderStatus.NeedMore;
            // need ≥ 0 and the argument's bytes are there (checked above), so this cannot fail.
            if (!TryReadArgument(data, ref o, out ulong value)) return HeaderStatus.NotSimple;
            if (key == 0) encodingId = value;
            if (key == 4)
            {
                headerLength = o;
                payloadLength = (long)value;
                return HeaderStatus.Ok;
            }
        }

        return HeaderStatus.NotSimple; // no key 4 (a schema error): the general decoder reports it
    }

    private static int ByteStringHeaderLength(int length) => length switch
    {
        < 24 => 1,
        <= byte.MaxValue => 2,
        <= ushort.MaxValue => 3,
        _ => 5,
    };

    private static int WriteByteStringHeader(Span<byte> destination, int length)
    {
        switch (length)
        {
            case < 24:
                destination[0] = (byte)(0x40 | length);
                return 1;
            case <= byte.MaxValue:
                destination[0] = 0x58;
                destination[1] = (byte)length;
                return 2;
            case <= ushort.MaxValue:
                destination[0] = 0x59;
                BinaryPrimitives.WriteUInt16BigEndian(destination[1..], (ushort)length);
                return 3;
            default:
                destination[0] = 0x5A;
                BinaryPrimitives.WriteUInt32BigEndian(destination[1..], (uint)length);
                return 5;
        }
    }

    /// <summary>
    /// Parses a data-frame body (the CBOR map, after the type key) of the usual shape: a definite map of at most 23
    /// entries whose keys are 0..3 (unsigned integers) and 4 (a definite byte string), each at most once, 0 and 4
    /// present, and nothing after the map. False for anything else (the caller then decodes it the general way).
    /// </summary>
    public static bool TryReadSimple(ReadOnlySpan<byte> body, out ulong encodingId, out int payloadOffset, out int payloadLength)
    {
        encodingId = 0;
        payloadOffset = payloadLength = 0;
        if (body.IsEmpty || (body[0] & 0xE0) != 0xA0 || (body[0] & 0x1F) > 23) return false;
        int entries = body[0] & 0x1F;
        int o = 1;
        int seen = 0;
        for (int i = 0; i < entries; i++)
        {
            if (o >= body.Length) return false;
            int key = body[o++];
            if (key > 4 || (seen & (1 << key)) != 0) return false;
            seen |= 1 << key;
            if (key == 4)
            {
                if (o >= body.Length || (body[o] & 0xE0) != 0x40 || !TryReadArgument(body, ref o, out ulong length)) return false;
                if (length > (ulong)(body.Length - o)) return false;
                payloadOffset = o;
                payloadLength = (int)length;
                o += (int)length;
            }
            else
            {
                if (o >= body.Length || (body[o] & 0xE0) != 0x00 || !TryReadArgument(body, ref o, out ulong value)) return false;
                if (key == 0) encodingId = value;
            }
        }

        return o == body.Length && (seen & 0b1_0001) == 0b1_0001;
    }

    /// <summary>Reads the argument of the CBOR head at <paramref name="o"/> (major type already checked; definite only).</summary>
    private static bool TryReadArgument(ReadOnlySpan<byte> data, ref int o, out ulong value)
    {
        value = 0;
        int info = data[o] & 0x1F;
        int need = info switch { < 24 => 0, 24 => 1, 25 => 2, 26 => 4, 27 => 8, _ => -1 };
        if (need < 0 || data.Length - o - 1 < need) return false;
        ReadOnlySpan<byte> arg = data.Slice(o + 1, need);
        value = need switch
        {
            0 => (ulong)info,
            1 => arg[0],
            2 => BinaryPrimitives.ReadUInt16BigEndian(arg),
            4 => BinaryPrimitives.ReadUInt32BigEndian(arg),
            _ => BinaryPrimitives.ReadUInt64BigEndian(arg),
        };
        o += 1 + need;
        return true;
    }

    // ---------------------------------------------------------------------------------------- the channel's demuxer

    /// <summary>One message read from a data channel's stream.</summary>
    /// <param name="Message">A decoded message that is not a data-frame (the open response), else null.</param>
    /// <param name="Payload">A data-frame's payload in an array rented from <see cref="ArrayPool{T}.Shared"/> (null for other messages).</param>
    /// <param name="Length">Payload bytes in <paramref name="Payload"/>.</param>
    /// <param name="EncodingId">The data-frame's encoding-id.</param>
    /// <param name="Error">Set when the data-frame's body did not match the schema.</param>
    internal readonly record struct Inbound(IOspMessage? Message, byte[]? Payload, int Length, ulong EncodingId, string? Error = null);

    [ThreadStatic]
    private static List<Inbound>? _sink;

    private static readonly ConcurrentDictionary<int, MessageDemuxer> Demuxers = new();

    /// <summary>
    /// A demuxer for data-channel streams (shared by every channel with the same size limit; the per-stream state is in
    /// each <see cref="MessageStream"/>): data-frames go through <see cref="TryReadSimple"/> into pooled payloads, every
    /// other message of the schema is decoded as usual (they are rare: the open response).
    /// </summary>
    public static MessageDemuxer Demuxer(int maxMessageSize) => Demuxers.GetOrAdd(Math.Max(64, maxMessageSize), static max =>
    {
        var demuxer = new MessageDemuxer(new MessageDemuxerOptions { MaxMessageSize = max });
        foreach (OspMessageDescriptor descriptor in OspMessageRegistry.All)
        {
            if (descriptor.TypeKey == DataFrame.MessageTypeKey)
            {
                demuxer.RegisterRaw(descriptor.TypeKey, static (_, body) => _sink!.Add(ReadDataFrame(body)));
            }
            else
            {
                OspMessageDescriptor d = descriptor;
                var limits = demuxer.Options.Limits;
                demuxer.RegisterRaw(descriptor.TypeKey, (_, body) => _sink!.Add(new Inbound(d.DecodeValidated(body.ToArray(), limits), null, 0, 0)));
            }
        }

        return demuxer;
    });

    /// <summary>Pushes bytes (or the FIN) into <paramref name="stream"/>; what they complete is appended to <paramref name="into"/>.</summary>
    public static DemuxResult Demux(MessageStream stream, ReadOnlyMemory<byte> data, bool fin, List<Inbound> into)
    {
        _sink = into;
        try
        {
            return fin ? stream.Complete() : stream.Push(data);
        }
        catch (CborException e)
        {
            // A non-data-frame message that does not match the schema (the generated decoder threw inside the handler).
            return new DemuxResult(DemuxStatus.Malformed, 0, 0, e.Error, e.Message);
        }
        finally
        {
            _sink = null;
        }
    }

    /// <summary>Copies a data-frame's payload into a pooled array (the only copy); the general decoder for unusual shapes.</summary>
    internal static Inbound ReadDataFrame(ReadOnlySpan<byte> body)
    {
        if (TryReadSimple(body, out ulong encodingId, out int offset, out int length))
        {
            byte[] payload = ArrayPool<byte>.Shared.Rent(length);
            body.Slice(offset, length).CopyTo(payload);
            return new Inbound(null, payload, length, encodingId);
        }

        DataFrame frame;
        try
        {
            frame = DataFrame.Decode(body.ToArray());
        }
        catch (CborException e)
        {
            return new Inbound(null, null, 0, 0, e.Message);
        }

        byte[] copy = ArrayPool<byte>.Shared.Rent(frame.Payload.Length);
        frame.Payload.Span.CopyTo(copy);
        return new Inbound(null, copy, frame.Payload.Length, frame.EncodingId);
    }

    /// <summary>Returns a payload array handed out by <see cref="ReadDataFrame"/> (empty arrays are not pooled).</summary>
    public static void Return(byte[] payload)
    {
        if (payload.Length > 0) ArrayPool<byte>.Shared.Return(payload);
    }
}
