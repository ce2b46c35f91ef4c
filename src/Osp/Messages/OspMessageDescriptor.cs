using OspBridge.Osp.Cbor;

namespace OspBridge.Osp.Messages;

/// <summary>Static facts about one message type of the schema: its key, name, CLR type and decoder.</summary>
public sealed class OspMessageDescriptor
{
    private OspMessageDescriptor(ulong typeKey, string name, Type messageType, Func<CborReader, IOspMessage> decode)
    {
        TypeKey = typeKey;
        Name = name;
        MessageType = messageType;
        Decode = decode;
    }

    /// <summary>The QUIC varint type key.</summary>
    public ulong TypeKey { get; }

    /// <summary>The CDDL rule name.</summary>
    public string Name { get; }

    /// <summary>The generated class.</summary>
    public Type MessageType { get; }

    /// <summary>Decodes one body of this type (transactional; throws <see cref="CborException"/>).</summary>
    public Func<CborReader, IOspMessage> Decode { get; }

    /// <summary>Creates the descriptor of <typeparamref name="T"/>.</summary>
    public static OspMessageDescriptor Create<T>()
        where T : class, IOspMessage<T> =>
        new(T.MessageTypeKey, T.MessageName, typeof(T), static reader => T.Decode(reader));

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
