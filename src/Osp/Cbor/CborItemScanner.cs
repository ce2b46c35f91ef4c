using System.Buffers.Binary;
using System.Text.Unicode;

namespace OspBridge.Osp.Cbor;

/// <summary>
/// Finds where one CBOR data item ends in input that arrives piece by piece, checking on the way everything
/// <see cref="CborInput"/> promises: well-formedness (RFC 8949 Appendix C), strict UTF-8 of text strings, and the
/// limits of <see cref="CborLimits"/> (depth, string lengths, collection counts, item count, shortest form) —
/// each on the item's head, before anything is buffered. Resumable: each call continues where the previous
/// stopped, so feeding n bytes costs O(n) in total however they are split.
/// </summary>
/// <remarks>Used by <see cref="CborInput"/> on complete input and by <c>MessageDemuxer</c> on stream chunks.</remarks>
internal sealed class CborItemScanner
{
    private const int Indefinite = -1;

    private readonly CborLimits _limits;
    private readonly int[] _remaining;   // per level: items left, or Indefinite
    private readonly int[] _itemsRead;   // per level: items seen in an indefinite container (map parity)
    private readonly sbyte[] _stringMajor; // per level: 2/3 = chunk list of an indefinite string, -4 array, -5 map, -1 root
    private int _depth;
    private int _offset;
    private long _skip;
    private int _tags;
    private long _stringTotal;
    private int _items;
    private int _textStart;  // payload start of the text string being skipped, or -1
    private int _textLength;

    public CborItemScanner(CborLimits? limits = null)
    {
        _limits = limits ?? CborLimits.Default;
        int levels = _limits.MaxDepth + 2;
        _remaining = new int[levels];
        _itemsRead = new int[levels];
        _stringMajor = new sbyte[levels];
        Reset();
    }

    /// <summary>Bytes of the item accepted so far.</summary>
    public int Offset => _offset;

    /// <summary>Starts over for a new item.</summary>
    public void Reset()
    {
        _depth = 1;
        _remaining[0] = 1; // the root item
        _itemsRead[0] = 0;
        _stringMajor[0] = -1;
        _offset = 0;
        _skip = 0;
        _tags = 0;
        _stringTotal = 0;
        _items = 0;
        _textStart = -1;
        _textLength = 0;
    }

    /// <summary>
    /// Continues scanning <paramref name="item"/> (all bytes of the item received so far, from its first byte).
    /// Returns the item's total length once it is complete, or -1 when more bytes are needed.
    /// </summary>
    /// <exception cref="CborException">The bytes are not well-formed CBOR or exceed a limit.</exception>
    public int Advance(ReadOnlySpan<byte> item)
    {
        while (true)
        {
            if (_skip > 0)
            {
                long take = Math.Min(_skip, item.Length - _offset);
                _offset += (int)take;
                _skip -= take;
                if (_skip > 0)
                {
                    return -1;
                }
            }

            if (_textStart >= 0)
            {
                // The whole payload of a text string (or chunk) is in: UTF-8 is checked per string/chunk, strictly.
                if (!Utf8.IsValid(item.Slice(_textStart, _textLength)))
                {
                    throw new CborException(CborError.InvalidUtf8, "Text string is not valid UTF-8.");
                }

                _textStart = -1;
            }

            // Close finished definite containers.
            while (_depth > 0 && _remaining[_depth - 1] == 0)
            {
                _depth--;
            }

            if (_depth == 0)
            {
                return _offset;
            }

            if (_offset >= item.Length)
            {
                return -1;
            }

            int level = _depth - 1;
            byte initial = item[_offset];
            if (initial == 0xFF)
            {
                if (_remaining[level] != Indefinite || _tags > 0)
                {
                    throw new CborException(CborError.Malformed, "Break code outside an indefinite-length item.");
                }

                if (_stringMajor[level] < 0 && IsMapLevel(level) && (_itemsRead[level] & 1) != 0)
                {
                    throw new CborException(CborError.Malformed, "Break code after a map key without its value.");
                }

                _offset++;
                _depth--;
                continue;
            }

            int major = initial >> 5;
            int ai = initial & 0x1F;
            int headLength = ai switch
            {
                < 24 => 1,
                24 => 2,
                25 => 3,
                26 => 5,
                27 => 9,
                31 => 1,
                _ => throw new CborException(CborError.Malformed, $"Reserved additional information in 0x{initial:x2}."),
            };
            if (_offset + headLength > item.Length)
            {
                return -1;
            }

            ulong argument = ai switch
            {
                < 24 => (ulong)ai,
                24 => item[_offset + 1],
                25 => BinaryPrimitives.ReadUInt16BigEndian(item[(_offset + 1)..]),
                26 => BinaryPrimitives.ReadUInt32BigEndian(item[(_offset + 1)..]),
                27 => BinaryPrimitives.ReadUInt64BigEndian(item[(_offset + 1)..]),
                _ => 0,
            };
            bool indefinite = ai == 31;

            if (++_items > _limits.MaxItemCount)
            {
                throw new CborException(CborError.ItemCountLimitExceeded, $"More than {_limits.MaxItemCount} data items.");
            }

            if (_stringMajor[level] >= 0)
            {
                // Inside an indefinite-length string: only definite chunks of the same major type.
                if (major != _stringMajor[level] || indefinite)
                {
                    throw new CborException(CborError.Malformed, "Bad chunk in an indefinite-length string.");
                }

                CheckShortest(major, ai, argument);
                _stringTotal += (long)Math.Min(argument, (ulong)int.MaxValue + 1);
                CheckString(_stringTotal);
                _offset += headLength;
                BeginPayload(major, argument);
                continue;
            }

            if (indefinite && major is 0 or 1 or 6 or 7)
            {
                throw new CborException(CborError.Malformed, $"Invalid indefinite length in 0x{initial:x2}.");
            }

            if (major == 7 && ai == 24 && argument < 32)
            {
                throw new CborException(CborError.Malformed, "Two-byte simple value below 32.");
            }

            CheckShortest(major, ai, argument);
            _offset += headLength;
            if (major == 6)
            {
                if (++_tags > _limits.MaxDepth)
                {
                    throw new CborException(CborError.DepthLimitExceeded, "Too many nested tags.");
                }

                continue;
            }

            // A data item (not a tag) starts: count it in its container.
            _tags = 0;
            if (_remaining[level] == Indefinite)
            {
                _itemsRead[level]++;
            }
            else
            {
                _remaining[level]--;
            }

            switch (major)
            {
                case 2:
                case 3:
                    if (indefinite)
                    {
                        Push(Indefinite, (sbyte)major);
                        _stringTotal = 0;
                    }
                    else
                    {
                        CheckString((long)Math.Min(argument, (ulong)int.MaxValue + 1));
                        BeginPayload(major, argument);
                    }

                    break;
                case 4:
                case 5:
                    if (indefinite)
                    {
                        Push(Indefinite, (sbyte)(-major));
                    }
                    else
                    {
                        if (argument > (ulong)_limits.MaxCollectionLength)
                        {
                            throw new CborException(CborError.ItemCountLimitExceeded, $"Collection of {argument} elements exceeds the limit of {_limits.MaxCollectionLength}.");
                        }

                        if (argument > 0)
                        {
                            Push(major == 5 ? (int)argument * 2 : (int)argument, (sbyte)(-major));
                        }
                        else if (_depth > _limits.MaxDepth)
                        {
                            throw new CborException(CborError.DepthLimitExceeded, $"Nesting deeper than {_limits.MaxDepth}.");
                        }
                    }

                    break;
            }
        }
    }

    private void BeginPayload(int major, ulong length)
    {
        _skip = (long)length; // ≤ MaxStringLength (checked)
        if (major == 3)
        {
            _textStart = _offset;
            _textLength = (int)length;
        }
    }

    private void CheckShortest(int major, int ai, ulong argument)
    {
        if (!_limits.RequireShortestEncoding || major == 7 || ai < 24)
        {
            return;
        }

        bool shortest = ai switch
        {
            24 => argument >= 24,
            25 => argument > byte.MaxValue,
            26 => argument > ushort.MaxValue,
            27 => argument > uint.MaxValue,
            _ => false, // 31: indefinite length
        };
        if (!shortest)
        {
            throw new CborException(CborError.NonCanonical, ai == 31
                ? "Indefinite-length item where shortest encoding is required."
                : "Integer or length not in its shortest form.");
        }
    }

    private bool IsMapLevel(int level) => _stringMajor[level] == -5;

    private void Push(int remaining, sbyte kind)
    {
        // Level 0 holds the root; containers occupy levels 1..MaxDepth, plus one chunk list of an indefinite string.
        if (_depth > (kind >= 0 ? _limits.MaxDepth + 1 : _limits.MaxDepth))
        {
            throw new CborException(CborError.DepthLimitExceeded, $"Nesting deeper than {_limits.MaxDepth}.");
        }

        _remaining[_depth] = remaining;
        _itemsRead[_depth] = 0;
        _stringMajor[_depth] = kind;
        _depth++;
    }

    private void CheckString(long length)
    {
        if (length > _limits.MaxStringLength)
        {
            throw new CborException(CborError.StringLengthLimitExceeded, $"String of {length} bytes exceeds the limit of {_limits.MaxStringLength}.");
        }
    }
}
