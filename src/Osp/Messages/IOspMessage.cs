using System.Formats.Cbor;
using OspBridge.Osp.Cbor;

namespace OspBridge.Osp.Messages;

/// <summary>An OSP message: a CBOR body that travels behind a QUIC varint type key.</summary>
public interface IOspMessage
{
    /// <summary>The message's type key.</summary>
    ulong TypeKey { get; }

    /// <summary>The CDDL rule name, e.g. <c>agent-info-request</c>.</summary>
    string Name { get; }

    /// <summary>Writes the CBOR body (without the type key).</summary>
    void Encode(CborWriter writer);
}

/// <summary>An OSP message type with static access to its type key and decoder (implemented by generated code).</summary>
/// <typeparam name="TSelf">The message type.</typeparam>
public interface IOspMessage<TSelf> : IOspMessage
    where TSelf : class, IOspMessage<TSelf>
{
    /// <summary>The message's type key.</summary>
    static abstract ulong MessageTypeKey { get; }

    /// <summary>The CDDL rule name.</summary>
    static abstract string MessageName { get; }

    /// <summary>
    /// Reads one message body from a caller's reader. A body that is not well-formed CBOR leaves the reader
    /// unchanged; a well-formed one is consumed whole, also when it then breaks a limit or the schema.
    /// </summary>
    /// <exception cref="CborException">The body is malformed, exceeds a limit or violates the schema.</exception>
    static abstract TSelf Decode(CborReader reader, CborLimits? limits);

    /// <summary>Decodes <paramref name="cbor"/>, which must hold exactly one message body.</summary>
    /// <exception cref="CborException">The body is malformed, exceeds a limit, violates the schema or has trailing bytes.</exception>
    static abstract TSelf Decode(ReadOnlyMemory<byte> cbor, CborLimits? limits);
}
