namespace OspBridge.Osp.Messages;

/// <summary>A CDDL <c>bytes / text</c> value (e.g. a presentation connection message).</summary>
public readonly struct BytesOrText : IEquatable<BytesOrText>
{
    private BytesOrText(ReadOnlyMemory<byte> bytes, string? text)
    {
        Bytes = bytes;
        Text = text;
    }

    /// <summary>True when this is a text string.</summary>
    public bool IsText => Text is not null;

    /// <summary>The text (null when this is a byte string).</summary>
    public string? Text { get; }

    /// <summary>The bytes (empty when this is text).</summary>
    public ReadOnlyMemory<byte> Bytes { get; }

    /// <summary>A byte string.</summary>
    public static BytesOrText FromBytes(ReadOnlyMemory<byte> bytes) => new(bytes, null);

    /// <summary>A text string.</summary>
    public static BytesOrText FromText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new(ReadOnlyMemory<byte>.Empty, text);
    }

    /// <summary>Equality by kind and content.</summary>
    public static bool operator ==(BytesOrText left, BytesOrText right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(BytesOrText left, BytesOrText right) => !left.Equals(right);

    /// <inheritdoc/>
    public bool Equals(BytesOrText other) =>
        IsText ? string.Equals(Text, other.Text, StringComparison.Ordinal) : !other.IsText && Bytes.Span.SequenceEqual(other.Bytes.Span);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is BytesOrText other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => IsText ? StringComparer.Ordinal.GetHashCode(Text!) : Bytes.Length;

    /// <inheritdoc/>
    public override string ToString() => IsText ? Text! : "h'" + Convert.ToHexStringLower(Bytes.Span) + "'";
}
