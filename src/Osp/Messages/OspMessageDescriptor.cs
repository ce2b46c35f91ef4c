using System.Formats.Cbor;
using OspBridge.Osp.Cbor;

namespace OspBridge.Osp.Messages;

/// <summary>Static facts about one message type of the schema: its key, name, CLR type and decoder.</summary>
public sealed class OspMessageDescriptor
{
    private readonly Func<ReadOnlyMemory<byte>, CborLimits?, IOspMessage> _decode;
    private readonly Func<CborReader, CborLimits?, IOspMessage> _decodeFrom;
    private readonly Func<CborReader, IOspMessage>? _decodeCore;

    private OspMessageDescriptor(
        ulong typeKey,
        string name,
        Type messageType,
        Func<ReadOnlyMemory<byte>, CborLimits?, IOspMessage> decode,
        Func<CborReader, CborLimits?, IOspMessage> decodeFrom,
        Func<CborReader, IOspMessage>? decodeCore)
    {
        TypeKey = typeKey;
        Name = name;
        MessageType = messageType;
        _decode = decode;
        _decodeFrom = decodeFrom;
        _decodeCore = decodeCore;
    }

    /// <summary>The QUIC varint type key.</summary>
    public ulong TypeKey { get; }

    /// <summary>The CDDL rule name.</summary>
    public string Name { get; }

    /// <summary>The generated class.</summary>
    public Type MessageType { get; }

    /// <summary>Decodes one complete body of this type.</summary>
    /// <exception cref="CborException">The body is malformed, exceeds a limit, violates the schema or has trailing bytes.</exception>
    public IOspMessage Decode(ReadOnlyMemory<byte> body, CborLimits? limits = null) => _decode(body, limits);

    /// <summary>Decodes the next item of <paramref name="reader"/> as a body of this type (see <see cref="IOspMessage{TSelf}.Decode(CborReader, CborLimits)"/>).</summary>
    /// <exception cref="CborException">The item is malformed, exceeds a limit or violates the schema.</exception>
    public IOspMessage Decode(CborReader reader, CborLimits? limits = null) => _decodeFrom(reader, limits);

    /// <summary>Creates the descriptor of <typeparamref name="T"/>.</summary>
    public static OspMessageDescriptor Create<T>()
        where T : class, IOspMessage<T> =>
        new(T.MessageTypeKey, T.MessageName, typeof(T), static (body, limits) => T.Decode(body, limits), static (reader, limits) => T.Decode(reader, limits), null);

    /// <summary>The descriptor of a generated type, with its decoder for bodies already validated (by the demuxer's scanner).</summary>
    internal static OspMessageDescriptor Create<T>(Func<CborReader, T> decodeCore)
        where T : class, IOspMessage<T> =>
        new(T.MessageTypeKey, T.MessageName, typeof(T), static (body, limits) => T.Decode(body, limits), static (reader, limits) => T.Decode(reader, limits), decodeCore);

    /// <summary>Decodes a body that already passed validation with the limits in force.</summary>
    internal IOspMessage DecodeValidated(ReadOnlyMemory<byte> body, CborLimits? limits) =>
        _decodeCore is { } core ? CborInput.DecodeValidated(body, core) : _decode(body, limits);

    /// <inheritdoc/>
    public override string ToString() => $"{Name} ({TypeKey})";
}

/// <summary>Every message type of osp-messages.cddl, by type key (generated list, hand-written lookup).</summary>
public static partial class OspMessageRegistry
{
    private static readonly OspMessageDescriptor[] Descriptors = CreateDescriptors();
    private static readonly Dictionary<ulong, OspMessageDescriptor> ByKey = Descriptors.ToDictionary(d => d.TypeKey);

    /// <summary>All message types, ordered by type key.</summary>
    public static IReadOnlyList<OspMessageDescriptor> All => Descriptors;

    /// <summary>Looks up a type key.</summary>
    public static bool TryGet(ulong typeKey, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out OspMessageDescriptor? descriptor) =>
        ByKey.TryGetValue(typeKey, out descriptor);
}
