namespace OspBridge.Osp.Messages;

/// <summary>A CDDL <c>T / null</c> value: either CBOR null (<c>default</c>) or a <typeparamref name="T"/>.</summary>
/// <typeparam name="T">The non-null alternative.</typeparam>
public readonly struct NullOr<T> : IEquatable<NullOr<T>>
{
    private readonly T _value;

    /// <summary>Wraps a non-null value.</summary>
    public NullOr(T value)
    {
        ArgumentNullException.ThrowIfNull(value);
        _value = value;
        HasValue = true;
    }

    /// <summary>True when this holds a value (not null).</summary>
    public bool HasValue { get; }

    /// <summary>True when this is CBOR null.</summary>
    public bool IsNull => !HasValue;

    /// <summary>The value.</summary>
    /// <exception cref="InvalidOperationException">This is null.</exception>
    public T Value => HasValue ? _value : throw new InvalidOperationException("The value is CBOR null.");

    /// <summary>Wraps a value.</summary>
    public static implicit operator NullOr<T>(T value) => new(value);

    /// <summary>Equality of both alternatives.</summary>
    public static bool operator ==(NullOr<T> left, NullOr<T> right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(NullOr<T> left, NullOr<T> right) => !left.Equals(right);

    /// <inheritdoc/>
    public bool Equals(NullOr<T> other) =>
        HasValue == other.HasValue && (!HasValue || EqualityComparer<T>.Default.Equals(_value, other._value));

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is NullOr<T> other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HasValue ? EqualityComparer<T>.Default.GetHashCode(_value!) : 0;

    /// <inheritdoc/>
    public override string ToString() => HasValue ? _value!.ToString() ?? "" : "null";
}
