using System.Buffers.Binary;

namespace OspBridge.WebRtc.Sctp.Parameters;

/// <summary>
/// Incoming SSN Reset Request (RFC 6525 §4.2): "please reset your outgoing streams".
/// <code>
///  | Parameter Type = 14 | Parameter Length = 8 + 2 * N |
///  | Re-configuration Request Sequence Number           |
///  | Stream Number 1 (optional) | Stream Number 2 ...   |
/// </code>
/// </summary>
internal readonly ref struct IncomingSsnResetRequestParameter
{
    public const int FixedLength = 4;

    public IncomingSsnResetRequestParameter(uint requestSequence, ReadOnlySpan<byte> streams)
    {
        RequestSequence = requestSequence;
        StreamBytes = streams;
    }

    public uint RequestSequence { get; }
    public ReadOnlySpan<byte> StreamBytes { get; }
    public int StreamCount => SctpStreamList.Count(StreamBytes);
    public ushort Stream(int index) => SctpStreamList.Get(StreamBytes, index);

    public static bool TryParse(ReadOnlySpan<byte> value, out IncomingSsnResetRequestParameter p)
    {
        p = default;
        if (!SctpStreamList.IsValid(value, FixedLength))
        {
            return false;
        }
        p = new IncomingSsnResetRequestParameter(BinaryPrimitives.ReadUInt32BigEndian(value), value.Slice(FixedLength));
        return true;
    }

    public static int Write(Span<byte> destination, uint requestSequence, ReadOnlySpan<ushort> streams)
    {
        var v = destination.Slice(4);
        BinaryPrimitives.WriteUInt32BigEndian(v, requestSequence);
        int n = SctpStreamList.Write(v.Slice(FixedLength), streams);
        return SctpParameterReader.WriteHeader(destination, SctpParameterType.IncomingSsnResetRequest, FixedLength + n);
    }
}
