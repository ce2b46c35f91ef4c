using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;

namespace OspBridge.Osp.Cbor;

/// <summary>
/// Writes one CBOR data item (RFC 8949) into a growable buffer rented from <see cref="ArrayPool{T}.Shared"/>.
/// </summary>
/// <remarks>
/// <para>Heads always use the shortest form (RFC 8949 §4.2.1). Arrays and maps are definite-length: the
/// element count is given up front and checked when the container is closed.</para>
/// <para>With <c>deterministic: true</c>, map entries are reordered at <see cref="WriteEndMap"/> into the
/// bytewise lexicographic order of their encoded keys and duplicate keys are rejected (RFC 8949 §4.2.1
/// "Core Deterministic Encoding"). <see cref="WriteDouble"/> uses the shortest float width that keeps the
/// value (§4.2.2); <see cref="WriteFloat64"/> always writes binary64 (what CDDL <c>float64</c> asks for).</para>
/// <para>Misuse (too many or too few elements, ending the wrong container, writing after the root item) throws
/// <see cref="InvalidOperationException"/>. Dispose to return the buffer to the pool.</para>
/// </remarks>
public sealed class CborWriter : IDisposable
{
    private const int Indefinite = -1;

    private readonly bool _deterministic;
    private byte[] _buffer;
    private int _length;
    private Frame[] _frames = new Frame[4];
    private int _depth;
    private bool _pendingTag;
    private bool _rootStarted;
    private int[] _offsets = [];
    private int _offsetCount;

    /// <summary>Creates a writer.</summary>
    /// <param name="initialCapacity">Initial buffer size in bytes.</param>
    /// <param name="deterministic">Sort map keys and reject duplicates (RFC 8949 §4.2.1).</param>
    public CborWriter(int initialCapacity = 256, bool deterministic = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(initialCapacity);
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(initialCapacity, 16));
        _deterministic = deterministic;
    }

    /// <summary>Whether map keys are sorted (RFC 8949 §4.2.1).</summary>
    public bool IsDeterministic => _deterministic;

    /// <summary>Number of bytes written so far.</summary>
    public int BytesWritten => _length;

    /// <summary>True once the root data item is complete.</summary>
    public bool IsComplete => _rootStarted && _depth == 0 && !_pendingTag;

    /// <summary>The bytes written so far. Valid until the next write, <see cref="Reset"/> or <see cref="Dispose"/>.</summary>
    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _length);

    /// <summary>The bytes written so far. Valid until the next write, <see cref="Reset"/> or <see cref="Dispose"/>.</summary>
    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _length);

    /// <summary>Returns a copy of the complete encoding.</summary>
    public byte[] Encode()
    {
        EnsureComplete();
        return WrittenSpan.ToArray();
    }

    /// <summary>Copies the complete encoding into <paramref name="destination"/>; false if it is too small.</summary>
    public bool TryEncode(Span<byte> destination, out int bytesWritten)
    {
        EnsureComplete();
        if (destination.Length < _length)
        {
            bytesWritten = 0;
            return false;
        }

        WrittenSpan.CopyTo(destination);
        bytesWritten = _length;
        return true;
    }

    /// <summary>Copies the complete encoding into <paramref name="output"/>.</summary>
    public void CopyTo(IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        EnsureComplete();
        output.Write(WrittenSpan);
    }

    /// <summary>Clears the writer for reuse, keeping its buffer.</summary>
    public void Reset()
    {
        _length = 0;
        _depth = 0;
        _pendingTag = false;
        _rootStarted = false;
        _offsetCount = 0;
    }

    /// <summary>Returns the buffer to the pool; the writer is unusable afterwards.</summary>
    public void Dispose()
    {
        byte[] buffer = _buffer;
        _buffer = [];
        _length = 0;
        if (buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Writes an unsigned integer (major type 0).</summary>
    public void WriteUInt64(ulong value)
    {
        BeginItem();
        WriteHead(0, value);
    }

    /// <summary>Writes a signed integer (major type 0 or 1).</summary>
    public void WriteInt64(long value)
    {
        BeginItem();
        if (value >= 0)
        {
            WriteHead(0, (ulong)value);
        }
        else
        {
            WriteHead(1, (ulong)(-1 - value));
        }
    }

    /// <summary>Writes the negative integer −1 − <paramref name="n"/> (major type 1), covering −2^64 … −1.</summary>
    public void WriteCborNegativeIntegerRepresentation(ulong n)
    {
        BeginItem();
        WriteHead(1, n);
    }

    /// <summary>Writes a tag number (major type 6); the next item written is the tagged item.</summary>
    public void WriteTag(ulong tag)
    {
        BeginItem();
        WriteHead(6, tag);
        _pendingTag = true;
    }

    /// <summary>Writes <c>true</c> or <c>false</c>.</summary>
    public void WriteBoolean(bool value) => WriteSimpleValue(value ? (byte)21 : (byte)20);

    /// <summary>Writes <c>null</c>.</summary>
    public void WriteNull() => WriteSimpleValue(22);

    /// <summary>Writes <c>undefined</c>.</summary>
    public void WriteUndefined() => WriteSimpleValue(23);

    /// <summary>Writes a simple value (0–23 or 32–255).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is 24–31 (not well-formed).</exception>
    public void WriteSimpleValue(byte value)
    {
        if (value is >= 24 and < 32)
        {
            throw new ArgumentOutOfRangeException(nameof(value), "Simple values 24-31 are reserved.");
        }

        BeginItem();
        WriteHead(7, value);
    }

    /// <summary>Writes a binary16 float.</summary>
    public void WriteHalf(Half value)
    {
        BeginItem();
        Span<byte> span = Grow(3);
        span[0] = 0xF9;
        BinaryPrimitives.WriteHalfBigEndian(span[1..], value);
    }

    /// <summary>Writes a binary32 float.</summary>
    public void WriteSingle(float value)
    {
        BeginItem();
        Span<byte> span = Grow(5);
        span[0] = 0xFA;
        BinaryPrimitives.WriteSingleBigEndian(span[1..], value);
    }

    /// <summary>Writes a binary64 float (always 8 bytes, as CDDL <c>float64</c> requires).</summary>
    public void WriteFloat64(double value)
    {
        BeginItem();
        Span<byte> span = Grow(9);
        span[0] = 0xFB;
        BinaryPrimitives.WriteDoubleBigEndian(span[1..], value);
    }

    /// <summary>
    /// Writes a float in the shortest of binary16/32/64 that represents it exactly (RFC 8949 §4.2.2 preferred
    /// serialization); every NaN is written as the canonical half-precision NaN <c>f9 7e00</c>.
    /// </summary>
    public void WriteDouble(double value)
    {
        if (double.IsNaN(value))
        {
            WriteHalf(BitConverter.UInt16BitsToHalf(0x7E00)); // Half.NaN is 0xFE00 (sign set); RFC 8949 uses 7e00
        }
        else if ((double)(Half)value == value)
        {
            WriteHalf((Half)value);
        }
        else if ((double)(float)value == value)
        {
            WriteSingle((float)value);
        }
        else
        {
            WriteFloat64(value);
        }
    }

    /// <summary>Writes a definite-length byte string.</summary>
    public void WriteByteString(ReadOnlySpan<byte> value)
    {
        BeginItem();
        WriteHead(2, (ulong)value.Length);
        value.CopyTo(Grow(value.Length));
    }

    /// <summary>Writes a definite-length text string.</summary>
    /// <exception cref="ArgumentException">The string holds an unpaired surrogate.</exception>
    public void WriteTextString(ReadOnlySpan<char> value)
    {
        int byteCount;
        try
        {
            byteCount = StrictUtf8.GetByteCount(value);
        }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException("Text is not valid UTF-16 (unpaired surrogate).", nameof(value), e);
        }

        BeginItem();
        WriteHead(3, (ulong)byteCount);
        StrictUtf8.GetBytes(value, Grow(byteCount));
    }

    /// <summary>Writes a definite-length text string given as UTF-8 bytes.</summary>
    /// <exception cref="ArgumentException">The bytes are not valid UTF-8.</exception>
    public void WriteUtf8String(ReadOnlySpan<byte> utf8)
    {
        if (!Utf8.IsValid(utf8))
        {
            throw new ArgumentException("Bytes are not valid UTF-8.", nameof(utf8));
        }

        BeginItem();
        WriteHead(3, (ulong)utf8.Length);
        utf8.CopyTo(Grow(utf8.Length));
    }

    /// <summary>Writes a pre-encoded data item, which is checked to be exactly one well-formed item.</summary>
    /// <exception cref="CborException">The bytes are not exactly one well-formed data item.</exception>
    public void WriteEncodedValue(ReadOnlyMemory<byte> encoded)
    {
        var reader = new CborReader(encoded, TrustedInput);
        reader.SkipValue();
        if (reader.BytesRemaining != 0)
        {
            throw new CborException(CborError.TrailingData, "Encoded value is followed by extra bytes.");
        }

        BeginItem();
        encoded.Span.CopyTo(Grow(encoded.Length));
    }

    /// <summary>Starts an array of <paramref name="length"/> elements.</summary>
    public void WriteStartArray(int length) => StartContainer(4, length);

    /// <summary>Starts a map of <paramref name="pairCount"/> key/value pairs.</summary>
    public void WriteStartMap(int pairCount) => StartContainer(5, pairCount);

    /// <summary>Ends the current array; all announced elements must have been written.</summary>
    public void WriteEndArray() => EndContainer(isMap: false);

    /// <summary>Ends the current map; all announced pairs must have been written. Deterministic writers sort it here.</summary>
    public void WriteEndMap() => EndContainer(isMap: true);

    private void StartContainer(int major, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        BeginItem();
        WriteHead(major, (ulong)count);
        if (_depth == _frames.Length)
        {
            Array.Resize(ref _frames, _frames.Length * 2);
        }

        _frames[_depth++] = new Frame(major == 5, major == 5 ? count * 2 : count, _length, _offsetCount);
    }

    private void EndContainer(bool isMap)
    {
        if (_depth == 0 || _frames[_depth - 1].IsMap != isMap || _pendingTag)
        {
            throw new InvalidOperationException(isMap ? "No open map to end." : "No open array to end.");
        }

        Frame frame = _frames[_depth - 1];
        if (frame.Remaining != 0)
        {
            throw new InvalidOperationException($"The container still needs {frame.Remaining} item(s).");
        }

        if (isMap && _deterministic)
        {
            SortMap(frame);
        }

        _depth--;
    }

    /// <summary>Reorders the entries written since the map head by encoded key (RFC 8949 §4.2.1).</summary>
    private void SortMap(Frame frame)
    {
        int pairs = (_offsetCount - frame.OffsetBase) / 2;
        if (pairs > 1)
        {
            int[] entries = ArrayPool<int>.Shared.Rent(pairs);
            try
            {
                for (int i = 0; i < pairs; i++)
                {
                    entries[i] = i;
                }

                Span<int> order = entries.AsSpan(0, pairs);
                order.Sort((a, b) => Key(a).SequenceCompareTo(Key(b)));
                for (int i = 1; i < pairs; i++)
                {
                    if (Key(order[i - 1]).SequenceEqual(Key(order[i])))
                    {
                        throw new CborException(CborError.DuplicateMapKey, "Duplicate key in a deterministic map.");
                    }
                }

                int bodyLength = _length - frame.BodyStart;
                byte[] scratch = ArrayPool<byte>.Shared.Rent(bodyLength);
                try
                {
                    int written = 0;
                    foreach (int entry in order)
                    {
                        int start = _offsets[frame.OffsetBase + (entry * 2)];
                        int end = entry + 1 < pairs ? _offsets[frame.OffsetBase + ((entry + 1) * 2)] : _length;
                        _buffer.AsSpan(start, end - start).CopyTo(scratch.AsSpan(written));
                        written += end - start;
                    }

                    scratch.AsSpan(0, bodyLength).CopyTo(_buffer.AsSpan(frame.BodyStart));
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(scratch);
                }
            }
            finally
            {
                ArrayPool<int>.Shared.Return(entries);
            }
        }

        _offsetCount = frame.OffsetBase;

        ReadOnlySpan<byte> Key(int entry)
        {
            int keyStart = _offsets[frame.OffsetBase + (entry * 2)];
            int valueStart = _offsets[frame.OffsetBase + (entry * 2) + 1];
            return _buffer.AsSpan(keyStart, valueStart - keyStart);
        }
    }

    /// <summary>Accounts for a new data item (or tag) in its parent before its head is written.</summary>
    private void BeginItem()
    {
        ObjectDisposedException.ThrowIf(_buffer.Length == 0, this);

        if (_pendingTag)
        {
            _pendingTag = false;
            return;
        }

        if (_depth == 0)
        {
            if (_rootStarted)
            {
                throw new InvalidOperationException("The root data item is already complete; call Reset to write another.");
            }

            _rootStarted = true;
            return;
        }

        ref Frame frame = ref _frames[_depth - 1];
        if (frame.Remaining == 0)
        {
            throw new InvalidOperationException("The container already holds all announced items.");
        }

        if (frame.IsMap && _deterministic)
        {
            // Record where each key and each value starts, so the map can be sorted when it ends.
            if (_offsetCount == _offsets.Length)
            {
                Array.Resize(ref _offsets, Math.Max(16, _offsets.Length * 2));
            }

            _offsets[_offsetCount++] = _length;
        }

        frame.Remaining--;
    }

    private void WriteHead(int major, ulong argument)
    {
        byte mt = (byte)(major << 5);
        if (argument < 24)
        {
            Grow(1)[0] = (byte)(mt | (byte)argument);
        }
        else if (argument <= byte.MaxValue)
        {
            Span<byte> span = Grow(2);
            span[0] = (byte)(mt | 24);
            span[1] = (byte)argument;
        }
        else if (argument <= ushort.MaxValue)
        {
            Span<byte> span = Grow(3);
            span[0] = (byte)(mt | 25);
            BinaryPrimitives.WriteUInt16BigEndian(span[1..], (ushort)argument);
        }
        else if (argument <= uint.MaxValue)
        {
            Span<byte> span = Grow(5);
            span[0] = (byte)(mt | 26);
            BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)argument);
        }
        else
        {
            Span<byte> span = Grow(9);
            span[0] = (byte)(mt | 27);
            BinaryPrimitives.WriteUInt64BigEndian(span[1..], argument);
        }
    }

    /// <summary>Reserves <paramref name="count"/> bytes at the end and returns them.</summary>
    private Span<byte> Grow(int count)
    {
        if (_buffer.Length - _length < count)
        {
            int size = (int)Math.Min(Array.MaxLength, Math.Max((long)_buffer.Length * 2, (long)_length + count));
            if (size - _length < count)
            {
                throw new InvalidOperationException("CBOR output exceeds the maximum array size.");
            }

            byte[] bigger = ArrayPool<byte>.Shared.Rent(size);
            _buffer.AsSpan(0, _length).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = bigger;
        }

        Span<byte> span = _buffer.AsSpan(_length, count);
        _length += count;
        return span;
    }

    private void EnsureComplete()
    {
        if (!IsComplete)
        {
            throw new InvalidOperationException("The CBOR data item is not complete.");
        }
    }

    // Our own pre-encoded values: check well-formedness, not the limits meant for network input.
    private static readonly CborReaderOptions TrustedInput = new()
    {
        MaxDepth = 1024,
        MaxCollectionLength = int.MaxValue,
        MaxStringLength = int.MaxValue,
        MaxItemCount = int.MaxValue,
    };

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private struct Frame(bool isMap, int remaining, int bodyStart, int offsetBase)
    {
        public readonly bool IsMap = isMap;
        public readonly int BodyStart = bodyStart;
        public readonly int OffsetBase = offsetBase;
        public int Remaining = remaining;
    }
}
