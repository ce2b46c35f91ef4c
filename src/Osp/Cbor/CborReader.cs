using System.Buffers.Binary;
using System.Text;
using System.Text.Unicode;

namespace OspBridge.Osp.Cbor;

/// <summary>
/// A pull reader for one CBOR data item (RFC 8949) over a <see cref="ReadOnlyMemory{T}"/>.
/// </summary>
/// <remarks>
/// <para>Every <c>Read…</c> method is transactional: it either consumes a complete element and returns,
/// or throws <see cref="CborException"/> and leaves the position and nesting state unchanged
/// (<see cref="SkipValue"/> and <see cref="ReadEncodedValue"/> included).</para>
/// <para>Limits from <see cref="CborReaderOptions"/> are checked on the item's head, before anything is
/// allocated. Definite-length strings are returned as slices of the input (no copy); only indefinite-length
/// strings of two or more chunks are copied into one buffer.</para>
/// <para>Containers announce their size and are then read element by element; a definite array or map whose
/// elements have all been read reports <see cref="CborReaderState.EndArray"/> / <see cref="CborReaderState.EndMap"/>,
/// and an indefinite one does so at its break code.</para>
/// </remarks>
public sealed class CborReader
{
    private const int Indefinite = -1;

    private readonly ReadOnlyMemory<byte> _data;
    private readonly CborReaderOptions _options;
    private Frame[] _frames = new Frame[4];
    private int _depth;
    private int _position;
    private int _pendingTags;
    private bool _rootStarted;
    private int _itemCount;

    /// <summary>Creates a reader over <paramref name="data"/>, which must hold one data item.</summary>
    public CborReader(ReadOnlyMemory<byte> data, CborReaderOptions? options = null)
    {
        _data = data;
        _options = options ?? CborReaderOptions.Default;
    }

    /// <summary>The options in force.</summary>
    public CborReaderOptions Options => _options;

    /// <summary>Bytes consumed so far.</summary>
    public int BytesConsumed => _position;

    /// <summary>Bytes not yet consumed (after <see cref="CborReaderState.Finished"/>: trailing bytes).</summary>
    public int BytesRemaining => _data.Length - _position;

    /// <summary>Number of open arrays and maps.</summary>
    public int CurrentDepth => _depth;

    /// <summary>Returns what the next read will see, without consuming anything.</summary>
    /// <exception cref="CborException">The next head is truncated or malformed.</exception>
    public CborReaderState PeekState()
    {
        ReadOnlySpan<byte> data = _data.Span;
        if (_pendingTags == 0)
        {
            if (_depth == 0)
            {
                if (_rootStarted)
                {
                    return CborReaderState.Finished;
                }
            }
            else
            {
                ref Frame frame = ref _frames[_depth - 1];
                if (frame.Remaining == 0)
                {
                    return frame.IsMap ? CborReaderState.EndMap : CborReaderState.EndArray;
                }

                if (frame.Remaining == Indefinite && _position < data.Length && data[_position] == 0xFF)
                {
                    if (frame.IsMap && (frame.ItemsRead & 1) != 0)
                    {
                        throw new CborException(CborError.Malformed, "Break code after a map key without its value.");
                    }

                    return frame.IsMap ? CborReaderState.EndMap : CborReaderState.EndArray;
                }
            }
        }

        if (_position >= data.Length)
        {
            throw new CborException(CborError.Truncated, "The input ends before the next data item.");
        }

        byte initial = data[_position];
        int major = initial >> 5;
        int ai = initial & 0x1F;
        if (ai is >= 28 and <= 30)
        {
            throw Malformed(initial);
        }

        switch (major)
        {
            case 0: return ai == 31 ? throw Malformed(initial) : CborReaderState.UnsignedInteger;
            case 1: return ai == 31 ? throw Malformed(initial) : CborReaderState.NegativeInteger;
            case 2: return CborReaderState.ByteString;
            case 3: return CborReaderState.TextString;
            case 4: return CborReaderState.StartArray;
            case 5: return CborReaderState.StartMap;
            case 6: return ai == 31 ? throw Malformed(initial) : CborReaderState.Tag;
        }

        switch (ai)
        {
            case 20:
            case 21:
                return CborReaderState.Boolean;
            case 22:
                return CborReaderState.Null;
            case 23:
                return CborReaderState.Undefined;
            case 24:
                if (_position + 1 >= data.Length)
                {
                    throw new CborException(CborError.Truncated, "The input ends inside a simple value.");
                }

                return data[_position + 1] < 32
                    ? throw new CborException(CborError.Malformed, "Two-byte simple value below 32.")
                    : CborReaderState.SimpleValue;
            case 25:
                return CborReaderState.HalfPrecisionFloat;
            case 26:
                return CborReaderState.SinglePrecisionFloat;
            case 27:
                return CborReaderState.DoublePrecisionFloat;
            case 31:
                throw new CborException(CborError.Malformed, "Break code outside an indefinite-length item.");
            default:
                return CborReaderState.SimpleValue;
        }
    }

    /// <summary>Reads an unsigned integer (major type 0).</summary>
    public ulong ReadUInt64()
    {
        Head head = ReadHead(0, out int next);
        Commit(next);
        return head.Argument;
    }

    /// <summary>Reads an unsigned integer that must fit in 32 bits.</summary>
    public uint ReadUInt32()
    {
        Head head = ReadHead(0, out int next);
        if (head.Argument > uint.MaxValue)
        {
            throw new CborException(CborError.IntegerOverflow, $"Integer {head.Argument} does not fit in 32 bits.");
        }

        Commit(next);
        return (uint)head.Argument;
    }

    /// <summary>Reads a signed integer (major type 0 or 1) that fits in 64 bits.</summary>
    public long ReadInt64()
    {
        Head head = ReadIntegerHead(out int next);
        if (head.Argument > long.MaxValue)
        {
            throw new CborException(CborError.IntegerOverflow, "Integer does not fit in 64 signed bits.");
        }

        Commit(next);
        return head.Major == 0 ? (long)head.Argument : -1L - (long)head.Argument;
    }

    /// <summary>Reads a signed integer (major type 0 or 1) that fits in 32 bits.</summary>
    public int ReadInt32()
    {
        Head head = ReadIntegerHead(out int next);
        if (head.Argument > int.MaxValue)
        {
            throw new CborException(CborError.IntegerOverflow, "Integer does not fit in 32 signed bits.");
        }

        Commit(next);
        return head.Major == 0 ? (int)head.Argument : -1 - (int)head.Argument;
    }

    /// <summary>Reads a negative integer (major type 1) and returns its raw argument n (the value is −1 − n).</summary>
    public ulong ReadCborNegativeIntegerRepresentation()
    {
        Head head = ReadHead(1, out int next);
        Commit(next);
        return head.Argument;
    }

    /// <summary>Reads a tag number (major type 6); the tagged item follows.</summary>
    public ulong ReadTag()
    {
        Head head = ReadHead(6, out int next);
        if (_pendingTags + 1 > _options.MaxDepth)
        {
            throw new CborException(CborError.DepthLimitExceeded, "Too many nested tags.");
        }

        Commit(next);
        _pendingTags++;
        return head.Argument;
    }

    /// <summary>Returns the next tag number without consuming it.</summary>
    public ulong PeekTag() => ReadHead(6, out _).Argument;

    /// <summary>Reads <c>true</c> or <c>false</c>.</summary>
    public bool ReadBoolean()
    {
        Head head = ReadHead(7, out int next);
        if (head.Info is not (20 or 21))
        {
            throw Unexpected(CborReaderState.Boolean);
        }

        Commit(next);
        return head.Info == 21;
    }

    /// <summary>Reads <c>null</c>.</summary>
    public void ReadNull()
    {
        Head head = ReadHead(7, out int next);
        if (head.Info != 22)
        {
            throw Unexpected(CborReaderState.Null);
        }

        Commit(next);
    }

    /// <summary>Reads <c>undefined</c>.</summary>
    public void ReadUndefined()
    {
        Head head = ReadHead(7, out int next);
        if (head.Info != 23)
        {
            throw Unexpected(CborReaderState.Undefined);
        }

        Commit(next);
    }

    /// <summary>Reads any simple value (0–23 or 32–255; false, true, null and undefined are 20–23).</summary>
    public byte ReadSimpleValue()
    {
        Head head = ReadHead(7, out int next);
        if (head.Info > 24)
        {
            throw Unexpected(CborReaderState.SimpleValue);
        }

        Commit(next);
        return (byte)head.Argument;
    }

    /// <summary>Reads a binary16 float.</summary>
    public Half ReadHalf()
    {
        Head head = ReadHead(7, out int next);
        if (head.Info != 25)
        {
            throw Unexpected(CborReaderState.HalfPrecisionFloat);
        }

        Commit(next);
        return BitConverter.UInt16BitsToHalf((ushort)head.Argument);
    }

    /// <summary>Reads a binary16 or binary32 float as <see cref="float"/> (exact).</summary>
    public float ReadSingle()
    {
        Head head = ReadHead(7, out int next);
        float value = head.Info switch
        {
            25 => (float)BitConverter.UInt16BitsToHalf((ushort)head.Argument),
            26 => BitConverter.UInt32BitsToSingle((uint)head.Argument),
            _ => throw Unexpected(CborReaderState.SinglePrecisionFloat),
        };
        Commit(next);
        return value;
    }

    /// <summary>Reads a binary16, binary32 or binary64 float as <see cref="double"/> (exact).</summary>
    public double ReadDouble()
    {
        Head head = ReadHead(7, out int next);
        double value = head.Info switch
        {
            25 => (double)BitConverter.UInt16BitsToHalf((ushort)head.Argument),
            26 => BitConverter.UInt32BitsToSingle((uint)head.Argument),
            27 => BitConverter.UInt64BitsToDouble(head.Argument),
            _ => throw Unexpected(CborReaderState.DoublePrecisionFloat),
        };
        Commit(next);
        return value;
    }

    /// <summary>
    /// Reads a byte string. A definite-length string (or an indefinite one with a single chunk) is returned as
    /// a slice of the input; chunks of an indefinite-length string are otherwise concatenated into a new array.
    /// </summary>
    public ReadOnlyMemory<byte> ReadByteString() => ReadString(2);

    /// <summary>Reads a text string as validated UTF-8 bytes (a slice of the input where possible, as <see cref="ReadByteString"/>).</summary>
    public ReadOnlyMemory<byte> ReadTextStringUtf8() => ReadString(3);

    /// <summary>Reads a text string (validated UTF-8) and decodes it.</summary>
    public string ReadTextString() => Encoding.UTF8.GetString(ReadString(3).Span);

    /// <summary>Reads the start of an array; returns its length, or null for an indefinite-length array.</summary>
    public int? ReadStartArray() => ReadStartContainer(4);

    /// <summary>Reads the start of a map; returns its number of pairs, or null for an indefinite-length map.</summary>
    public int? ReadStartMap() => ReadStartContainer(5);

    /// <summary>Reads the end of the current array.</summary>
    public void ReadEndArray() => ReadEndContainer(isMap: false);

    /// <summary>Reads the end of the current map.</summary>
    public void ReadEndMap() => ReadEndContainer(isMap: true);

    /// <summary>Skips the next data item (with everything nested in it), validating it as it goes.</summary>
    public void SkipValue()
    {
        Checkpoint checkpoint = CreateCheckpoint();
        try
        {
            int baseDepth = _depth;
            do
            {
                CborReaderState state = PeekState();
                switch (state)
                {
                    case CborReaderState.StartArray:
                        ReadStartArray();
                        break;
                    case CborReaderState.StartMap:
                        ReadStartMap();
                        break;
                    case CborReaderState.EndArray when _depth > baseDepth:
                        ReadEndArray();
                        break;
                    case CborReaderState.EndMap when _depth > baseDepth:
                        ReadEndMap();
                        break;
                    case CborReaderState.EndArray:
                    case CborReaderState.EndMap:
                    case CborReaderState.Finished:
                        throw new CborException(CborError.UnexpectedType, $"No data item to skip ({state}).");
                    case CborReaderState.Tag:
                        ReadTag();
                        break;
                    case CborReaderState.ByteString:
                        ReadStringCore(2, materialize: false);
                        break;
                    case CborReaderState.TextString:
                        ReadStringCore(3, materialize: false);
                        break;
                    default:
                        SkipScalar();
                        break;
                }
            }
            while (_depth > baseDepth || _pendingTags > 0);
        }
        catch (CborException)
        {
            RestoreCheckpoint(checkpoint);
            throw;
        }
    }

    /// <summary>Reads the next data item and returns its complete encoding as a slice of the input.</summary>
    public ReadOnlyMemory<byte> ReadEncodedValue()
    {
        int start = _position;
        SkipValue();
        return _data[start.._position];
    }

    /// <summary>Captures the reader state so a composite read can be undone (internal: used by generated decoders).</summary>
    internal Checkpoint CreateCheckpoint() =>
        new(_position, _depth, _depth > 0 ? _frames[_depth - 1] : default, _pendingTags, _rootStarted, _itemCount);

    /// <summary>Restores a state captured at the same or a lower nesting depth.</summary>
    internal void RestoreCheckpoint(in Checkpoint checkpoint)
    {
        _position = checkpoint.Position;
        _depth = checkpoint.Depth;
        if (_depth > 0)
        {
            _frames[_depth - 1] = checkpoint.Top;
        }

        _pendingTags = checkpoint.PendingTags;
        _rootStarted = checkpoint.RootStarted;
        _itemCount = checkpoint.ItemCount;
    }

    private void SkipScalar()
    {
        Head head = ReadAnyHead(out int next);
        if (head.Major is not (0 or 1 or 7))
        {
            throw new CborException(CborError.InternalError, "SkipScalar on a non-scalar.");
        }

        Commit(next);
    }

    private int? ReadStartContainer(int major)
    {
        Head head = ReadHead(major, out int next);
        int count;
        if (head.IsIndefinite)
        {
            count = Indefinite;
        }
        else
        {
            if (head.Argument > (ulong)_options.MaxCollectionLength)
            {
                throw new CborException(CborError.ItemCountLimitExceeded, $"Collection of {head.Argument} elements exceeds the limit of {_options.MaxCollectionLength}.");
            }

            // Every element takes at least one byte: reject impossible lengths before anyone allocates for them.
            ulong minimumBytes = major == 5 ? head.Argument * 2 : head.Argument;
            if (minimumBytes > (ulong)(_data.Length - next))
            {
                throw new CborException(CborError.Truncated, $"Collection of {head.Argument} elements cannot fit in the remaining {_data.Length - next} bytes.");
            }

            count = (int)head.Argument;
        }

        if (_depth >= _options.MaxDepth)
        {
            throw new CborException(CborError.DepthLimitExceeded, $"Nesting deeper than {_options.MaxDepth}.");
        }

        Commit(next);
        if (_depth == _frames.Length)
        {
            Array.Resize(ref _frames, Math.Min(_frames.Length * 2, _options.MaxDepth));
        }

        _frames[_depth++] = new Frame(major == 5, count == Indefinite ? Indefinite : major == 5 ? count * 2 : count);
        return count == Indefinite ? null : count;
    }

    private void ReadEndContainer(bool isMap)
    {
        if (_depth == 0 || _pendingTags > 0)
        {
            throw Unexpected(isMap ? CborReaderState.EndMap : CborReaderState.EndArray);
        }

        ref Frame frame = ref _frames[_depth - 1];
        if (frame.IsMap != isMap)
        {
            throw Unexpected(isMap ? CborReaderState.EndMap : CborReaderState.EndArray);
        }

        if (frame.Remaining == Indefinite)
        {
            ReadOnlySpan<byte> data = _data.Span;
            if (_position >= data.Length)
            {
                throw new CborException(CborError.Truncated, "The input ends inside an indefinite-length item.");
            }

            if (data[_position] != 0xFF)
            {
                throw Unexpected(isMap ? CborReaderState.EndMap : CborReaderState.EndArray);
            }

            if (isMap && (frame.ItemsRead & 1) != 0)
            {
                throw new CborException(CborError.Malformed, "Break code after a map key without its value.");
            }

            _position++;
        }
        else if (frame.Remaining != 0)
        {
            throw Unexpected(isMap ? CborReaderState.EndMap : CborReaderState.EndArray);
        }

        _depth--;
    }

    private ReadOnlyMemory<byte> ReadString(int major) => ReadStringCore(major, materialize: true);

    private ReadOnlyMemory<byte> ReadStringCore(int major, bool materialize)
    {
        Head head = ReadHead(major, out int next);
        ReadOnlySpan<byte> data = _data.Span;
        if (!head.IsIndefinite)
        {
            int length = CheckStringLength(head.Argument, 0, next);
            ReadOnlyMemory<byte> slice = _data.Slice(next, length);
            if (major == 3 && !Utf8.IsValid(slice.Span))
            {
                throw new CborException(CborError.InvalidUtf8, "Text string is not valid UTF-8.");
            }

            Commit(next + length);
            return slice;
        }

        // Indefinite length: a run of definite-length chunks of the same major type, then a break code.
        // First pass validates and measures (no allocation); the second copies only if there are 2+ chunks.
        int position = next;
        int total = 0;
        int chunks = 0;
        int firstChunkStart = 0;
        while (true)
        {
            if (position >= data.Length)
            {
                throw new CborException(CborError.Truncated, "The input ends inside an indefinite-length string.");
            }

            if (data[position] == 0xFF)
            {
                position++;
                break;
            }

            Head chunk = DecodeHead(data, position, out int chunkNext);
            if (chunk.Major != major || chunk.IsIndefinite)
            {
                throw new CborException(CborError.Malformed, "Chunk of an indefinite-length string is not a definite string of the same type.");
            }

            int length = CheckStringLength(chunk.Argument, total, chunkNext);
            if (major == 3 && !Utf8.IsValid(data.Slice(chunkNext, length)))
            {
                throw new CborException(CborError.InvalidUtf8, "Text string chunk is not valid UTF-8.");
            }

            if (++chunks + _itemCount >= _options.MaxItemCount)
            {
                throw new CborException(CborError.ItemCountLimitExceeded, "Too many data items.");
            }

            if (chunks == 1)
            {
                firstChunkStart = chunkNext;
            }

            total += length;
            position = chunkNext + length;
        }

        ReadOnlyMemory<byte> result;
        if (chunks <= 1 || !materialize)
        {
            result = chunks == 1 ? _data.Slice(firstChunkStart, total) : ReadOnlyMemory<byte>.Empty;
        }
        else
        {
            byte[] buffer = new byte[total];
            int offset = 0;
            int p = next;
            while (data[p] != 0xFF)
            {
                Head chunk = DecodeHead(data, p, out int chunkNext);
                int length = (int)chunk.Argument;
                data.Slice(chunkNext, length).CopyTo(buffer.AsSpan(offset));
                offset += length;
                p = chunkNext + length;
            }

            result = buffer;
        }

        _itemCount += chunks;
        Commit(position);
        return result;
    }

    private int CheckStringLength(ulong length, int alreadyCounted, int payloadStart)
    {
        if (length > (ulong)(_options.MaxStringLength - alreadyCounted))
        {
            throw new CborException(CborError.StringLengthLimitExceeded, $"String of {length + (ulong)alreadyCounted} bytes exceeds the limit of {_options.MaxStringLength}.");
        }

        if (length > (ulong)(_data.Length - payloadStart))
        {
            throw new CborException(CborError.Truncated, $"String of {length} bytes but only {_data.Length - payloadStart} remain.");
        }

        return (int)length;
    }

    private Head ReadIntegerHead(out int next)
    {
        Head head = ReadAnyHead(out next);
        return head.Major is 0 or 1 ? head : throw Unexpected(CborReaderState.UnsignedInteger, head.Major);
    }

    private Head ReadHead(int major, out int next)
    {
        Head head = ReadAnyHead(out next);
        if (head.Major != major)
        {
            throw Unexpected(MajorState(major), head.Major);
        }

        return head;
    }

    /// <summary>Decodes the next head after checking the container state; consumes nothing.</summary>
    private Head ReadAnyHead(out int next)
    {
        CborReaderState state = PeekState();
        if (state is CborReaderState.EndArray or CborReaderState.EndMap or CborReaderState.Finished)
        {
            throw new CborException(CborError.UnexpectedType, $"Expected a data item but the reader is at {state}.");
        }

        if (_itemCount >= _options.MaxItemCount)
        {
            throw new CborException(CborError.ItemCountLimitExceeded, $"More than {_options.MaxItemCount} data items.");
        }

        return DecodeHead(_data.Span, _position, out next);
    }

    private Head DecodeHead(ReadOnlySpan<byte> data, int position, out int next)
    {
        if (position >= data.Length)
        {
            throw new CborException(CborError.Truncated, "The input ends before the next data item.");
        }

        byte initial = data[position];
        int major = initial >> 5;
        int ai = initial & 0x1F;
        ulong argument;
        int length;
        switch (ai)
        {
            case < 24:
                argument = (ulong)ai;
                length = 1;
                break;
            case 24:
                length = 2;
                argument = position + length <= data.Length ? data[position + 1] : 0UL;
                break;
            case 25:
                length = 3;
                argument = position + length <= data.Length ? BinaryPrimitives.ReadUInt16BigEndian(data[(position + 1)..]) : 0UL;
                break;
            case 26:
                length = 5;
                argument = position + length <= data.Length ? BinaryPrimitives.ReadUInt32BigEndian(data[(position + 1)..]) : 0UL;
                break;
            case 27:
                length = 9;
                argument = position + length <= data.Length ? BinaryPrimitives.ReadUInt64BigEndian(data[(position + 1)..]) : 0;
                break;
            case 31:
                if (major is 0 or 1 or 6 or 7)
                {
                    throw Malformed(initial);
                }

                if (_options.RequireShortestEncoding)
                {
                    throw new CborException(CborError.NonCanonical, "Indefinite-length item where shortest encoding is required.");
                }

                next = position + 1;
                return new Head(major, ai, 0);
            default:
                throw Malformed(initial);
        }

        if (position + length > data.Length)
        {
            throw new CborException(CborError.Truncated, "The input ends inside a data item head.");
        }

        if (major == 7 && ai == 24 && argument < 32)
        {
            throw new CborException(CborError.Malformed, "Two-byte simple value below 32.");
        }

        if (_options.RequireShortestEncoding && major != 7 && ai >= 24)
        {
            bool shortest = ai switch
            {
                24 => argument >= 24,
                25 => argument > byte.MaxValue,
                26 => argument > ushort.MaxValue,
                _ => argument > uint.MaxValue,
            };
            if (!shortest)
            {
                throw new CborException(CborError.NonCanonical, "Integer or length not in its shortest form.");
            }
        }

        next = position + length;
        return new Head(major, ai, argument);
    }

    /// <summary>Consumes the head just validated: counts the item in its parent and advances.</summary>
    private void Commit(int next)
    {
        if (_pendingTags > 0)
        {
            // The tag already counted this item in its parent; a non-tag head ends the tag chain.
            if ((_data.Span[_position] >> 5) != 6)
            {
                _pendingTags = 0;
            }
        }
        else if (_depth == 0)
        {
            _rootStarted = true;
        }
        else
        {
            ref Frame frame = ref _frames[_depth - 1];
            if (frame.Remaining == Indefinite)
            {
                frame.ItemsRead++;
            }
            else
            {
                frame.Remaining--;
            }
        }

        _itemCount++;
        _position = next;
    }

    private static CborReaderState MajorState(int major) => major switch
    {
        0 => CborReaderState.UnsignedInteger,
        1 => CborReaderState.NegativeInteger,
        2 => CborReaderState.ByteString,
        3 => CborReaderState.TextString,
        4 => CborReaderState.StartArray,
        5 => CborReaderState.StartMap,
        6 => CborReaderState.Tag,
        _ => CborReaderState.SimpleValue,
    };

    private static CborException Malformed(byte initial) =>
        new(CborError.Malformed, $"Reserved or invalid initial byte 0x{initial:x2}.");

    private CborException Unexpected(CborReaderState expected, int actualMajor = -1)
    {
        string actual = actualMajor >= 0 ? MajorState(actualMajor).ToString() : SafePeek();
        return new CborException(CborError.UnexpectedType, $"Expected {expected} but found {actual}.");
    }

    private string SafePeek()
    {
        try
        {
            return PeekState().ToString();
        }
        catch (CborException e)
        {
            return e.Error.ToString();
        }
    }

    private readonly record struct Head(int Major, int Info, ulong Argument)
    {
        public bool IsIndefinite => Info == 31;
    }

    internal struct Frame(bool isMap, int remaining)
    {
        public readonly bool IsMap = isMap;
        public int Remaining = remaining; // items left (maps count keys and values), or Indefinite
        public int ItemsRead;             // for indefinite containers: parity check of maps
    }

    /// <summary>A saved reader state; see <see cref="CreateCheckpoint"/>.</summary>
    internal readonly struct Checkpoint
    {
        internal Checkpoint(int position, int depth, Frame top, int pendingTags, bool rootStarted, int itemCount)
        {
            Position = position;
            Depth = depth;
            Top = top;
            PendingTags = pendingTags;
            RootStarted = rootStarted;
            ItemCount = itemCount;
        }

        internal int Position { get; }

        internal int Depth { get; }

        internal Frame Top { get; }

        internal int PendingTags { get; }

        internal bool RootStarted { get; }

        internal int ItemCount { get; }
    }
}
