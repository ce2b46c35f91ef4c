using System.Buffers.Binary;

namespace OspBridge.WebRtc.Sctp.Parameters;

/// <summary>Result codes of a Re-configuration Response (RFC 6525 §4.4).</summary>
internal enum ReconfigResult : uint
{
    SuccessNothingToDo = 0,
    SuccessPerformed = 1,
    Denied = 2,
    ErrorWrongSsn = 3,
    ErrorRequestAlreadyInProgress = 4,
    ErrorBadSequenceNumber = 5,
    InProgress = 6,
}

/// <summary>
/// Re-configuration Response (RFC 6525 §4.4).
/// <code>
///  | Parameter Type = 16 | Parameter Length = 12 or 20 |
///  | Re-configuration Response Sequence Number         |
///  | Result                                            |
///  | Sender's Next TSN (optional)                      |
///  | Receiver's Next TSN (optional)                    |
/// </code>
/// </summary>
internal readonly struct ReconfigurationResponseParameter
{
    public ReconfigurationResponseParameter(uint responseSequence, ReconfigResult result, uint? senderNextTsn = null, uint? receiverNextTsn = null)
    {
        ResponseSequence = responseSequence;
        Result = result;
        SenderNextTsn = senderNextTsn;
        ReceiverNextTsn = receiverNextTsn;
    }

    public uint ResponseSequence { get; }
    public ReconfigResult Result { get; }
    public uint? SenderNextTsn { get; }
    public uint? ReceiverNextTsn { get; }

    public static bool TryParse(ReadOnlySpan<byte> value, out ReconfigurationResponseParameter p)
    {
        p = default;
        if (value.Length != 8 && value.Length != 16)
        {
            return false;
        }
        uint seq = BinaryPrimitives.ReadUInt32BigEndian(value);
        var result = (ReconfigResult)BinaryPrimitives.ReadUInt32BigEndian(value.Slice(4));
        p = value.Length == 16
            ? new ReconfigurationResponseParameter(seq, result, BinaryPrimitives.ReadUInt32BigEndian(value.Slice(8)), BinaryPrimitives.ReadUInt32BigEndian(value.Slice(12)))
            : new ReconfigurationResponseParameter(seq, result);
        return true;
    }

    public int Write(Span<byte> destination)
    {
        var v = destination.Slice(4);
        BinaryPrimitives.WriteUInt32BigEndian(v, ResponseSequence);
        BinaryPrimitives.WriteUInt32BigEndian(v.Slice(4), (uint)Result);
        int len = 8;
        if (SenderNextTsn is { } s && ReceiverNextTsn is { } r)
        {
            BinaryPrimitives.WriteUInt32BigEndian(v.Slice(8), s);
            BinaryPrimitives.WriteUInt32BigEndian(v.Slice(12), r);
            len = 16;
        }
        return SctpParameterReader.WriteHeader(destination, SctpParameterType.ReconfigurationResponse, len);
    }
}
