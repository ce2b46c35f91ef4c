using System.Buffers.Binary;

namespace OspBridge.WebRtc.Sctp.Chunks;

/// <summary>
/// INIT (RFC 9260 §3.3.2); INIT-ACK (<see cref="InitAckChunk"/>) has the same fixed part.
/// <code>
///  | Type = 1 | Chunk Flags | Chunk Length                 |
///  | Initiate Tag                                          |
///  | Advertised Receiver Window Credit (a_rwnd)            |
///  | Number of Outbound Streams | Number of Inbound Streams|
///  | Initial TSN                                           |
///  | Optional/Variable-Length Parameters                   |
/// </code>
/// </summary>
internal readonly ref struct InitChunk
{
    public const int FixedLength = 16;

    public InitChunk(uint initiateTag, uint advertisedReceiverWindow, ushort outboundStreams, ushort inboundStreams, uint initialTsn, ReadOnlySpan<byte> parameters)
    {
        InitiateTag = initiateTag;
        AdvertisedReceiverWindow = advertisedReceiverWindow;
        OutboundStreams = outboundStreams;
        InboundStreams = inboundStreams;
        InitialTsn = initialTsn;
        Parameters = parameters;
    }

    public uint InitiateTag { get; }
    public uint AdvertisedReceiverWindow { get; }
    public ushort OutboundStreams { get; }
    public ushort InboundStreams { get; }
    public uint InitialTsn { get; }
    /// <summary>The raw TLV parameters (read with <see cref="Parameters.SctpParameterReader"/>).</summary>
    public ReadOnlySpan<byte> Parameters { get; }

    public static bool TryParse(ReadOnlySpan<byte> value, out InitChunk chunk)
    {
        chunk = default;
        if (value.Length < FixedLength)
        {
            return false;
        }
        chunk = new InitChunk(
            BinaryPrimitives.ReadUInt32BigEndian(value),
            BinaryPrimitives.ReadUInt32BigEndian(value.Slice(4)),
            BinaryPrimitives.ReadUInt16BigEndian(value.Slice(8)),
            BinaryPrimitives.ReadUInt16BigEndian(value.Slice(10)),
            BinaryPrimitives.ReadUInt32BigEndian(value.Slice(12)),
            value.Slice(FixedLength));
        return true;
    }

    /// <summary>Writes the fixed part of an INIT / INIT-ACK value at <paramref name="value"/>.</summary>
    public static void WriteFixed(Span<byte> value, uint initiateTag, uint aRwnd, ushort outbound, ushort inbound, uint initialTsn)
    {
        BinaryPrimitives.WriteUInt32BigEndian(value, initiateTag);
        BinaryPrimitives.WriteUInt32BigEndian(value.Slice(4), aRwnd);
        BinaryPrimitives.WriteUInt16BigEndian(value.Slice(8), outbound);
        BinaryPrimitives.WriteUInt16BigEndian(value.Slice(10), inbound);
        BinaryPrimitives.WriteUInt32BigEndian(value.Slice(12), initialTsn);
    }

    /// <summary>Writes an INIT chunk whose parameters are already serialized; returns the padded length.</summary>
    public static int Write(Span<byte> destination, uint initiateTag, uint aRwnd, ushort outbound, ushort inbound, uint initialTsn, ReadOnlySpan<byte> parameters)
    {
        WriteFixed(destination.Slice(4), initiateTag, aRwnd, outbound, inbound, initialTsn);
        parameters.CopyTo(destination.Slice(4 + FixedLength));
        return SctpChunkReader.WriteHeader(destination, SctpChunkType.Init, 0, FixedLength + parameters.Length);
    }
}
