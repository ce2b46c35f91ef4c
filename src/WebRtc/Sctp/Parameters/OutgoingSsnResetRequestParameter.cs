using System.Buffers.Binary;

namespace OspBridge.WebRtc.Sctp.Parameters;

/// <summary>
/// Outgoing SSN Reset Request (RFC 6525 §4.1): "I reset my outgoing streams; reset your incoming ones once you have
/// everything up to my last assigned TSN".
/// <code>
///  | Parameter Type = 13 | Parameter Length = 16 + 2 * N |
///  | Re-configuration Request Sequence Number            |
///  | Re-configuration Response Sequence Number           |
///  | Sender's Last Assigned TSN                          |
///  | Stream Number 1 (optional) | Stream Number 2 ...    |  (none = all streams)
/// </code>
/// </summary>
internal readonly ref struct OutgoingSsnResetRequestParameter
{
    public const int FixedLength = 12;

    public OutgoingSsnResetRequestParameter(uint requestSequence, uint responseSequence, uint lastAssignedTsn, ReadOnlySpan<byte> streams)
    {
        RequestSequence = requestSequence;
        ResponseSequence = responseSequence;
        LastAssignedTsn = lastAssignedTsn;
        StreamBytes = streams;
    }

    public uint RequestSequence { get; }
    public uint ResponseSequence { get; }
    public uint LastAssignedTsn { get; }
    /// <summary>The stream list as raw big-endian 16-bit values.</summary>
    public ReadOnlySpan<byte> StreamBytes { get; }
    public int StreamCount => SctpStreamList.Count(StreamBytes);
    public ushort Stream(int index) => SctpStreamList.Get(StreamBytes, index);

    public static bool TryParse(ReadOnlySpan<byte> value, out OutgoingSsnResetRequestParameter p)
    {
        p = default;
        if (!SctpStreamList.IsValid(value, FixedLength))
        {
            return false;
        }
        p = new OutgoingSsnResetRequestParameter(
            BinaryPrimitives.ReadUInt32BigEndian(value),
            BinaryPrimitives.ReadUInt32BigEndian(value.Slice(4)),
            BinaryPrimitives.ReadUInt32BigEndian(value.Slice(8)),
            value.Slice(FixedLength));
        return true;
    }

    public static int Write(Span<byte> destination, uint requestSequence, uint responseSequence, uint lastAssignedTsn, ReadOnlySpan<ushort> streams)
    {
        var v = destination.Slice(4);
        BinaryPrimitives.WriteUInt32BigEndian(v, requestSequence);
        BinaryPrimitives.WriteUInt32BigEndian(v.Slice(4), responseSequence);
        BinaryPrimitives.WriteUInt32BigEndian(v.Slice(8), lastAssignedTsn);
        int n = SctpStreamList.Write(v.Slice(FixedLength), streams);
        return SctpParameterReader.WriteHeader(destination, SctpParameterType.OutgoingSsnResetRequest, FixedLength + n);
    }
}
