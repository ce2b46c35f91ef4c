using System.Formats.Cbor;
using System.Globalization;
using System.Text;

namespace OspBridge.Osp.Cbor;

/// <summary>Renders CBOR in diagnostic notation (RFC 8949 §8), for logs, tests and docs.</summary>
public static class CborDiagnostic
{
    /// <summary>
    /// Formats one data item, e.g. <c>{0: 1, 1: [2, 3]}</c>. Indefinite containers print as <c>[_ …]</c>;
    /// chunked strings print concatenated. Input that fails <see cref="CborInput.Validate"/> gives
    /// <c>&lt;error: …&gt;</c>; bytes after the item are noted as <c>&lt;trailing n bytes&gt;</c>.
    /// </summary>
    public static string Format(ReadOnlyMemory<byte> cbor, CborLimits? limits = null)
    {
        var sb = new StringBuilder();
        try
        {
            CborReader reader = CborInput.CreateReader(cbor, limits, allowTrailingData: true);
            int trailing = cbor.Length - reader.BytesRemaining;
            FormatItem(reader, sb);
            if (trailing > 0)
            {
                sb.Append(" <trailing ").Append(trailing).Append(" bytes>");
            }
        }
        catch (CborException e)
        {
            sb.Append("<error: ").Append(e.Error).Append('>');
        }
        catch (Exception e) when (CborInput.IsLibraryException(e))
        {
            sb.Append("<error: ").Append(CborInput.ToCborException(e).Error).Append('>');
        }

        return sb.ToString();
    }

    /// <summary>Formats a double the way diagnostic notation does (<c>1.5</c>, <c>-0.0</c>, <c>Infinity</c>, <c>NaN</c>).</summary>
    public static string FormatDouble(double value)
    {
        if (double.IsNaN(value))
        {
            return "NaN";
        }

        if (double.IsInfinity(value))
        {
            return value > 0 ? "Infinity" : "-Infinity";
        }

        string text = value.ToString("R", CultureInfo.InvariantCulture);
        if (text.Contains('E', StringComparison.Ordinal))
        {
            // 1E+300 -> 1.0e+300 ; 5.960464477539063E-08 -> 5.960464477539063e-08
            int e = text.IndexOf('E', StringComparison.Ordinal);
            string mantissa = text[..e];
            if (!mantissa.Contains('.', StringComparison.Ordinal))
            {
                mantissa += ".0";
            }

            string exponent = text[(e + 1)..];
            char sign = exponent[0] is '+' or '-' ? exponent[0] : '+';
            string digits = exponent.TrimStart('+', '-').TrimStart('0');
            return mantissa + "e" + sign + (digits.Length == 0 ? "0" : digits);
        }

        if (!text.Contains('.', StringComparison.Ordinal))
        {
            text += ".0";
        }

        return value == 0 && double.IsNegative(value) ? "-0.0" : text;
    }

    private static void FormatItem(CborReader reader, StringBuilder sb)
    {
        switch (reader.PeekState())
        {
            case CborReaderState.UnsignedInteger:
                sb.Append(reader.ReadUInt64().ToString(CultureInfo.InvariantCulture));
                break;
            case CborReaderState.NegativeInteger:
                sb.Append('-').Append(((UInt128)reader.ReadCborNegativeIntegerRepresentation() + 1).ToString(CultureInfo.InvariantCulture));
                break;
            case CborReaderState.ByteString:
            case CborReaderState.StartIndefiniteLengthByteString:
                sb.Append("h'").Append(Convert.ToHexStringLower(reader.ReadByteString())).Append('\'');
                break;
            case CborReaderState.TextString:
            case CborReaderState.StartIndefiniteLengthTextString:
                AppendText(sb, reader.ReadTextString());
                break;
            case CborReaderState.StartArray:
            {
                int? count = reader.ReadStartArray();
                sb.Append(count is null ? "[_ " : "[");
                for (int i = 0; reader.PeekState() != CborReaderState.EndArray; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(", ");
                    }

                    FormatItem(reader, sb);
                }

                reader.ReadEndArray();
                sb.Append(']');
                break;
            }

            case CborReaderState.StartMap:
            {
                int? count = reader.ReadStartMap();
                sb.Append(count is null ? "{_ " : "{");
                for (int i = 0; reader.PeekState() != CborReaderState.EndMap; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(", ");
                    }

                    FormatItem(reader, sb);
                    sb.Append(": ");
                    FormatItem(reader, sb);
                }

                reader.ReadEndMap();
                sb.Append('}');
                break;
            }

            case CborReaderState.Tag:
                sb.Append(((ulong)reader.ReadTag()).ToString(CultureInfo.InvariantCulture)).Append('(');
                FormatItem(reader, sb);
                sb.Append(')');
                break;
            case CborReaderState.Boolean:
                sb.Append(reader.ReadBoolean() ? "true" : "false");
                break;
            case CborReaderState.Null:
                reader.ReadNull();
                sb.Append("null");
                break;
            case CborReaderState.SimpleValue:
                CborSimpleValue simple = reader.ReadSimpleValue();
                if (simple == CborSimpleValue.Undefined)
                {
                    sb.Append("undefined");
                }
                else
                {
                    sb.Append("simple(").Append((byte)simple).Append(')');
                }

                break;
            case CborReaderState.HalfPrecisionFloat:
            case CborReaderState.SinglePrecisionFloat:
            case CborReaderState.DoublePrecisionFloat:
                sb.Append(FormatDouble(reader.ReadDouble()));
                break;
            default:
                throw new CborException(CborError.UnexpectedType, "No data item.");
        }
    }

    private static void AppendText(StringBuilder sb, string text)
    {
        sb.Append('"');
        foreach (char c in text)
        {
            switch (c)
            {
                case '"':
                    sb.Append("\\\"");
                    break;
                case '\\':
                    sb.Append("\\\\");
                    break;
                case < ' ':
                    sb.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    break;
                default:
                    sb.Append(c);
                    break;
            }
        }

        sb.Append('"');
    }
}
