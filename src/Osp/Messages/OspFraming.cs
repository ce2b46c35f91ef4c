using System.Buffers;
using System.Formats.Cbor;
using OspBridge.Net.Wire;
using OspBridge.Osp.Cbor;

namespace OspBridge.Osp.Messages;

/// <summary>
/// OSP message framing (network spec §"Protocol messages"): a QUIC variable-length integer type key followed
/// directly by the CBOR body. There is no length prefix; the CBOR item delimits itself.
/// </summary>
/// <remarks>
/// <code>
/// +----------------------------+------------------------------------+
/// | type key (QUIC varint, 1-8)| body (one CBOR data item)          |
/// +----------------------------+------------------------------------+
/// </code>
/// </remarks>
public static class OspFraming
{
    /// <summary>Application error code to close a QUIC connection with when a message has an unknown type key.</summary>
    public const long UnknownTypeKeyErrorCode = 404;

    /// <summary>Writes type key and body of <paramref name="message"/> to <paramref name="output"/>.</summary>
    public static void Write(IBufferWriter<byte> output, IOspMessage message)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(message);
        CborWriter writer = CborOutput.RentWriter();
        try
        {
            message.Encode(writer);
            Span<byte> key = output.GetSpan(QuicVarint.MaxLength);
            output.Advance(QuicVarint.Write(key, message.TypeKey));
            CborOutput.CopyTo(writer, output);
        }
        finally
        {
            CborOutput.ReturnWriter(writer);
        }
    }

    /// <summary>Returns type key and body of <paramref name="message"/> as one array.</summary>
    public static byte[] Frame(IOspMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        CborWriter writer = CborOutput.RentWriter();
        try
        {
            message.Encode(writer);
            int keyLength = QuicVarint.GetEncodedLength(message.TypeKey);
            byte[] frame = new byte[keyLength + writer.BytesWritten];
            QuicVarint.Write(frame, message.TypeKey);
            writer.Encode(frame.AsSpan(keyLength));
            return frame;
        }
        finally
        {
            CborOutput.ReturnWriter(writer);
        }
    }

    /// <summary>
    /// Decodes one complete framed message with the registry (type key must be known; body must be exactly one item).
    /// </summary>
    /// <exception cref="CborException">Truncated, malformed, unknown type key (<see cref="CborError.SchemaViolation"/>) or trailing bytes.</exception>
    public static IOspMessage Decode(ReadOnlyMemory<byte> frame, CborLimits? limits = null)
    {
        if (!QuicVarint.TryRead(frame.Span, out ulong typeKey, out int keyLength))
        {
            throw new CborException(CborError.Truncated, "The frame ends inside its type key.");
        }

        if (!OspMessageRegistry.TryGet(typeKey, out OspMessageDescriptor? descriptor))
        {
            throw new CborException(CborError.SchemaViolation, $"Unknown OSP message type key {typeKey}.");
        }

        return descriptor.Decode(frame[keyLength..], limits);
    }
}
