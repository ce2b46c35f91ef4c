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

    /// <summary>Reads one message body; on failure the reader is left where it was.</summary>
    static abstract TSelf Decode(CborReader reader);
}
