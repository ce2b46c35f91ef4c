using System.Buffers.Binary;

namespace OspBridge.Osp.Cbor;

/// <summary>
/// Finds where one CBOR data item ends in input that arrives piece by piece, checking well-formedness
/// (RFC 8949 Appendix C, without UTF-8 validation) and the depth/length limits on the way. Resumable: each
/// call continues where the previous stopped, so feeding n bytes costs O(n) in total however they are split.
/// </summary>
/// <remarks>Used by <c>MessageDemuxer</c> to learn that a message body is complete before decoding it.</remarks>
internal sealed class CborItemScanner
{
    private const int Indefinite = -1;

    private readonly CborReaderOptions _options;
    private readonly int[] _remaining;   // per level: items left, or Indefinite
    private readonly int[] _itemsRead;   // per level: items seen in an indefinite container (map parity)
    private readonly sbyte[] _stringMajor; // per level: 2/3 = chunk list of an indefinite string, -4 array, -5 map, -1 root
    private int _depth;
    private int _offset;
    private long _skip;
    private int _tags;
    private long _stringTotal;

    public CborItemScanner(CborReaderOptions? options = null)
    {
        _options = options ?? CborReaderOptions.Default;
        int levels = _options.MaxDepth + 2;
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

            if (_stringMajor[level] >= 0)
            {
                // Inside an indefinite-length string: only definite chunks of the same major type.
                if (major != _stringMajor[level] || indefinite)
                {
                    throw new CborException(CborError.Malformed, "Bad chunk in an indefinite-length string.");
                }

                _stringTotal += (long)Math.Min(argument, (ulong)int.MaxValue + 1);
                CheckString(_stringTotal);
                _offset += headLength;
                _skip = (long)argument;
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

            _offset += headLength;
            if (major == 6)
            {
                if (++_tags > _options.MaxDepth)
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
                        _skip = (long)argument;
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
                        if (argument > (ulong)_options.MaxCollectionLength)
                        {
                            throw new CborException(CborError.ItemCountLimitExceeded, $"Collection of {argument} elements exceeds the limit.");
                        }

                        if (argument > 0)
                        {
                            Push(major == 5 ? (int)argument * 2 : (int)argument, (sbyte)(-major));
                        }
                        else if (_depth > _options.MaxDepth)
                        {
                            throw new CborException(CborError.DepthLimitExceeded, $"Nesting deeper than {_options.MaxDepth}.");
                        }
                    }

                    break;
            }
        }
    }

    private bool IsMapLevel(int level) => _stringMajor[level] == -5;

    private void Push(int remaining, sbyte kind)
    {
        // Level 0 holds the root; containers occupy levels 1..MaxDepth, plus one chunk list of an indefinite string.
        if (_depth > (kind >= 0 ? _options.MaxDepth + 1 : _options.MaxDepth))
        {
            throw new CborException(CborError.DepthLimitExceeded, $"Nesting deeper than {_options.MaxDepth}.");
        }

        _remaining[_depth] = remaining;
        _itemsRead[_depth] = 0;
        _stringMajor[_depth] = kind;
        _depth++;
    }

    private void CheckString(long length)
    {
        if (length > _options.MaxStringLength)
        {
            throw new CborException(CborError.StringLengthLimitExceeded, $"String of {length} bytes exceeds the limit of {_options.MaxStringLength}.");
        }
    }
}
