using System.Globalization;
using System.Numerics;
using System.Text;
using System.Formats.Cbor;
using OspBridge.Osp.Cbor;

namespace OspBridge.Osp.Tests.Cbor;

/// <summary>
/// Test helper: parses CBOR diagnostic notation (RFC 8949 §8, the subset used in Appendix A) and writes the
/// value with System.Formats.Cbor's <see cref="CborWriter"/> (floats through <see cref="CborOutput.WritePreferredDouble"/>,
/// deterministic output through <see cref="CborOutput.ToDeterministic"/>) — the "encode from value" direction of the vector tests.
/// Indefinite markers ("[_ ", "{_ ") are accepted and written as definite containers.
/// </summary>
internal static class DiagnosticEncoder
{
    public static byte[] Encode(string diagnostic, bool deterministic = false)
    {
        var writer = new CborWriter(CborConformanceMode.Lax);
        int pos = 0;
        WriteItem(diagnostic, ref pos, writer);
        SkipSpace(diagnostic, ref pos);
        Assert.Equal(diagnostic.Length, pos);
        return deterministic ? CborOutput.ToDeterministic(writer.Encode()) : writer.Encode();
    }

    private static void WriteItem(string s, ref int pos, CborWriter w)
    {
        SkipSpace(s, ref pos);
        char c = s[pos];
        if (c == '[')
        {
            pos++;
            Indefinite(s, ref pos);
            var items = new List<string>();
            Collect(s, ref pos, ']', items);
            w.WriteStartArray(items.Count);
            foreach (string item in items)
            {
                int p = 0;
                WriteItem(item, ref p, w);
            }

            w.WriteEndArray();
            return;
        }

        if (c == '{')
        {
            pos++;
            Indefinite(s, ref pos);
            var items = new List<string>();
            Collect(s, ref pos, '}', items);
            w.WriteStartMap(items.Count);
            foreach (string pair in items)
            {
                int colon = TopLevelIndex(pair, ':');
                int p = 0;
                WriteItem(pair[..colon], ref p, w);
                p = 0;
                WriteItem(pair[(colon + 1)..], ref p, w);
            }

            w.WriteEndMap();
            return;
        }

        if (c == '"')
        {
            var sb = new StringBuilder();
            pos++;
            while (s[pos] != '"')
            {
                if (s[pos] == '\\')
                {
                    pos++;
                    if (s[pos] == 'u')
                    {
                        sb.Append((char)int.Parse(s.AsSpan(pos + 1, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        pos += 5;
                        continue;
                    }
                }

                sb.Append(s[pos++]);
            }

            pos++;
            w.WriteTextString(sb.ToString());
            return;
        }

        if (s.AsSpan(pos).StartsWith("h'"))
        {
            int end = s.IndexOf('\'', pos + 2);
            w.WriteByteString(Convert.FromHexString(s.AsSpan(pos + 2, end - pos - 2)));
            pos = end + 1;
            return;
        }

        foreach ((string word, Action<CborWriter> write) in Words)
        {
            if (s.AsSpan(pos).StartsWith(word))
            {
                write(w);
                pos += word.Length;
                return;
            }
        }

        if (s.AsSpan(pos).StartsWith("simple("))
        {
            int end = s.IndexOf(')', pos);
            w.WriteSimpleValue((CborSimpleValue)byte.Parse(s.AsSpan(pos + 7, end - pos - 7), CultureInfo.InvariantCulture));
            pos = end + 1;
            return;
        }

        // Number, or tag "N(item)".
        int start = pos;
        while (pos < s.Length && (char.IsDigit(s[pos]) || s[pos] is '-' or '+' or '.' or 'e' or 'E'))
        {
            pos++;
        }

        string number = s[start..pos];
        if (pos < s.Length && s[pos] == '(')
        {
            pos++;
            w.WriteTag((CborTag)ulong.Parse(number, CultureInfo.InvariantCulture));
            WriteItem(s, ref pos, w);
            SkipSpace(s, ref pos);
            Assert.Equal(')', s[pos]);
            pos++;
            return;
        }

        if (number.Contains('.', StringComparison.Ordinal) || number.Contains('e', StringComparison.Ordinal))
        {
            CborOutput.WritePreferredDouble(w, double.Parse(number, CultureInfo.InvariantCulture));
        }
        else if (number.StartsWith('-'))
        {
            BigInteger n = -1 - BigInteger.Parse(number, CultureInfo.InvariantCulture);
            w.WriteCborNegativeIntegerRepresentation((ulong)n);
        }
        else
        {
            w.WriteUInt64(ulong.Parse(number, CultureInfo.InvariantCulture));
        }
    }

    private static readonly (string, Action<CborWriter>)[] Words =
    [
        ("false", w => w.WriteBoolean(false)),
        ("true", w => w.WriteBoolean(true)),
        ("null", w => w.WriteNull()),
        ("undefined", w => w.WriteSimpleValue(CborSimpleValue.Undefined)),
        ("-Infinity", w => CborOutput.WritePreferredDouble(w, double.NegativeInfinity)),
        ("Infinity", w => CborOutput.WritePreferredDouble(w, double.PositiveInfinity)),
        ("NaN", w => CborOutput.WritePreferredDouble(w, double.NaN)),
    ];

    private static void Indefinite(string s, ref int pos)
    {
        if (s[pos] == '_')
        {
            pos++;
        }
    }

    /// <summary>Splits the comma-separated items up to the matching close bracket.</summary>
    private static void Collect(string s, ref int pos, char close, List<string> items)
    {
        int depth = 0;
        int start = pos;
        bool inString = false;
        for (; ; pos++)
        {
            char c = s[pos];
            if (inString)
            {
                if (c == '\\')
                {
                    pos++;
                }
                else if (c == '"')
                {
                    inString = false;
                }

                continue;
            }

            switch (c)
            {
                case '"':
                    inString = true;
                    break;
                case '[' or '{' or '(':
                    depth++;
                    break;
                case ']' or '}' or ')' when depth > 0:
                    depth--;
                    break;
                case ']' or '}' or ')':
                    Assert.Equal(close, c);
                    string last = s[start..pos];
                    if (!string.IsNullOrWhiteSpace(last))
                    {
                        items.Add(last);
                    }

                    pos++;
                    return;
                case ',' when depth == 0:
                    items.Add(s[start..pos]);
                    start = pos + 1;
                    break;
            }
        }
    }

    private static int TopLevelIndex(string s, char target)
    {
        int depth = 0;
        bool inString = false;
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (inString)
            {
                if (c == '\\')
                {
                    i++;
                }
                else if (c == '"')
                {
                    inString = false;
                }

                continue;
            }

            if (c == '"')
            {
                inString = true;
            }
            else if (c is '[' or '{' or '(')
            {
                depth++;
            }
            else if (c is ']' or '}' or ')')
            {
                depth--;
            }
            else if (c == target && depth == 0)
            {
                return i;
            }
        }

        throw new FormatException("No ':' in map entry " + s);
    }

    private static void SkipSpace(string s, ref int pos)
    {
        while (pos < s.Length && char.IsWhiteSpace(s[pos]))
        {
            pos++;
        }
    }
}
