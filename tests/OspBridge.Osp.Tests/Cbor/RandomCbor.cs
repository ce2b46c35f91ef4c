using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using OspBridge.Osp.Cbor;

namespace OspBridge.Osp.Tests.Cbor;

/// <summary>
/// Seeded generator of random well-formed CBOR with its expected diagnostic notation, written by an encoder
/// independent of System.Formats.Cbor's CborWriter: it also emits indefinite lengths, chunked strings and
/// non-shortest heads, so the reader is checked against a second implementation.
/// </summary>
internal sealed class RandomCbor(int seed, int maxDepth = 4, bool allowLaxForms = true)
{
    private readonly Random _random = new(seed);

    public (byte[] Encoded, string Diagnostic) Next()
    {
        var bytes = new List<byte>();
        var diag = new StringBuilder();
        Item(bytes, diag, 0);
        return (bytes.ToArray(), diag.ToString());
    }

    private void Item(List<byte> o, StringBuilder d, int depth)
    {
        int kind = _random.Next(depth >= maxDepth ? 8 : 11);
        switch (kind)
        {
            case 0:
            {
                ulong v = RandomUInt();
                Head(o, 0, v);
                d.Append(v.ToString(CultureInfo.InvariantCulture));
                break;
            }

            case 1:
            {
                ulong n = RandomUInt();
                Head(o, 1, n);
                d.Append('-').Append(((UInt128)n + 1).ToString(CultureInfo.InvariantCulture));
                break;
            }

            case 2:
            {
                byte[] b = new byte[_random.Next(0, 40)];
                _random.NextBytes(b);
                StringPayload(o, 2, b);
                d.Append("h'").Append(Convert.ToHexStringLower(b)).Append('\'');
                break;
            }

            case 3:
            {
                string s = RandomText();
                StringPayload(o, 3, Encoding.UTF8.GetBytes(s));
                d.Append('"').Append(s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)).Append('"');
                break;
            }

            case 4:
            {
                double v = RandomDouble(out byte[] encoded);
                o.AddRange(encoded);
                d.Append(CborDiagnostic.FormatDouble(v));
                break;
            }

            case 5:
            {
                (byte b, string s) = _random.Next(5) switch
                {
                    0 => ((byte)0xf4, "false"),
                    1 => ((byte)0xf5, "true"),
                    2 => ((byte)0xf6, "null"),
                    3 => ((byte)0xf7, "undefined"),
                    _ => ((byte)0, ""),
                };
                if (s.Length > 0)
                {
                    o.Add(b);
                    d.Append(s);
                }
                else
                {
                    int simple = _random.Next(2) == 0 ? _random.Next(0, 20) : _random.Next(32, 256);
                    if (simple < 24)
                    {
                        o.Add((byte)(0xe0 | simple));
                    }
                    else
                    {
                        o.Add(0xf8);
                        o.Add((byte)simple);
                    }

                    d.Append("simple(").Append(simple).Append(')');
                }

                break;
            }

            case 6:
            case 7:
            {
                ulong v = (ulong)_random.Next(0, 24);
                Head(o, 0, v);
                d.Append(v);
                break;
            }

            case 8:
            {
                int n = _random.Next(0, 6);
                bool indefinite = allowLaxForms && _random.Next(4) == 0;
                if (indefinite)
                {
                    o.Add(0x9f);
                }
                else
                {
                    Head(o, 4, (ulong)n);
                }

                d.Append(indefinite ? "[_ " : "[");
                for (int i = 0; i < n; i++)
                {
                    if (i > 0)
                    {
                        d.Append(", ");
                    }

                    Item(o, d, depth + 1);
                }

                if (indefinite)
                {
                    o.Add(0xff);
                }

                d.Append(']');
                break;
            }

            case 9:
            {
                int n = _random.Next(0, 5);
                bool indefinite = allowLaxForms && _random.Next(4) == 0;
                if (indefinite)
                {
                    o.Add(0xbf);
                }
                else
                {
                    Head(o, 5, (ulong)n);
                }

                d.Append(indefinite ? "{_ " : "{");
                for (int i = 0; i < n; i++)
                {
                    if (i > 0)
                    {
                        d.Append(", ");
                    }

                    Item(o, d, depth + 1);
                    d.Append(": ");
                    Item(o, d, depth + 1);
                }

                if (indefinite)
                {
                    o.Add(0xff);
                }

                d.Append('}');
                break;
            }

            default:
            {
                ulong tag = _random.Next(3) == 0 ? RandomUInt() : (ulong)_random.Next(0, 64);
                Head(o, 6, tag);
                d.Append(tag.ToString(CultureInfo.InvariantCulture)).Append('(');
                Item(o, d, depth + 1);
                d.Append(')');
                break;
            }
        }
    }

    private void StringPayload(List<byte> o, int major, byte[] payload)
    {
        if (allowLaxForms && _random.Next(5) == 0)
        {
            // Indefinite length: split at random points (text only between characters' bytes).
            o.Add((byte)((major << 5) | 31));
            int pos = 0;
            while (pos < payload.Length)
            {
                int len = _random.Next(1, payload.Length - pos + 1);
                while (major == 3 && pos + len < payload.Length && (payload[pos + len] & 0xC0) == 0x80)
                {
                    len++;
                }

                Head(o, major, (ulong)len);
                o.AddRange(payload.AsSpan(pos, len).ToArray());
                pos += len;
            }

            if (_random.Next(3) == 0)
            {
                Head(o, major, 0); // an empty chunk is allowed
            }

            o.Add(0xff);
            return;
        }

        Head(o, major, (ulong)payload.Length);
        o.AddRange(payload);
    }

    private void Head(List<byte> o, int major, ulong value)
    {
        int width = value switch { < 24 => 0, <= 0xff => 1, <= 0xffff => 2, <= 0xffffffff => 4, _ => 8 };
        if (allowLaxForms && width < 8 && _random.Next(8) == 0)
        {
            width = width == 0 ? 1 : width * 2; // a longer head than needed: valid, not preferred
        }

        byte mt = (byte)(major << 5);
        Span<byte> b = stackalloc byte[8];
        switch (width)
        {
            case 0:
                o.Add((byte)(mt | (byte)value));
                break;
            case 1:
                o.Add((byte)(mt | 24));
                o.Add((byte)value);
                break;
            case 2:
                o.Add((byte)(mt | 25));
                BinaryPrimitives.WriteUInt16BigEndian(b, (ushort)value);
                o.AddRange(b[..2].ToArray());
                break;
            case 4:
                o.Add((byte)(mt | 26));
                BinaryPrimitives.WriteUInt32BigEndian(b, (uint)value);
                o.AddRange(b[..4].ToArray());
                break;
            default:
                o.Add((byte)(mt | 27));
                BinaryPrimitives.WriteUInt64BigEndian(b, value);
                o.AddRange(b.ToArray());
                break;
        }
    }

    private ulong RandomUInt() => _random.Next(4) switch
    {
        0 => (ulong)_random.Next(0, 24),
        1 => (ulong)_random.Next(0, 65536),
        2 => (ulong)_random.NextInt64(0, uint.MaxValue),
        _ => (ulong)_random.NextInt64() ^ ((ulong)_random.Next(2) << 63),
    };

    private string RandomText()
    {
        string[] pieces = ["a", "IETF", "\u00fc", "\u6c34", "\ud800\udd51", " ", "\"", "\\", "z9", "\u00e9t\u00e9"];
        var sb = new StringBuilder();
        int n = _random.Next(0, 8);
        for (int i = 0; i < n; i++)
        {
            sb.Append(pieces[_random.Next(pieces.Length)]);
        }

        return sb.ToString();
    }

    private double RandomDouble(out byte[] encoded)
    {
        byte[] b;
        double value;
        switch (_random.Next(3))
        {
            case 0:
                Half h = BitConverter.UInt16BitsToHalf((ushort)_random.Next(0, 65536));
                if (Half.IsNaN(h))
                {
                    h = Half.NaN;
                }

                b = new byte[3];
                b[0] = 0xf9;
                BinaryPrimitives.WriteHalfBigEndian(b.AsSpan(1), h);
                value = (double)h;
                break;
            case 1:
                float f = BitConverter.Int32BitsToSingle(_random.Next() ^ (_random.Next(2) << 31));
                if (float.IsNaN(f))
                {
                    f = float.NaN;
                }

                b = new byte[5];
                b[0] = 0xfa;
                BinaryPrimitives.WriteSingleBigEndian(b.AsSpan(1), f);
                value = f;
                break;
            default:
                double d = BitConverter.Int64BitsToDouble(_random.NextInt64() ^ ((long)_random.Next(2) << 63));
                if (double.IsNaN(d))
                {
                    d = double.NaN;
                }

                b = new byte[9];
                b[0] = 0xfb;
                BinaryPrimitives.WriteDoubleBigEndian(b.AsSpan(1), d);
                value = d;
                break;
        }

        encoded = b;
        return value;
    }
}
