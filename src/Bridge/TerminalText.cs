using System.Globalization;
using System.Text;

namespace OspBridge.Bridge;

/// <summary>
/// Makes strings that came from the network safe to print on a terminal (issue 9 item 6): C0 controls, DEL, C1
/// controls and the Unicode bidirectional/invisible formatting characters are shown escaped (<c>\e</c>, <c>\a</c>,
/// <c>\n</c>, <c>\x7f</c>, <c>\u0085</c>, <c>\u202e</c>…) and a backslash is doubled, so <c>Door\e]0;pwned\a</c> prints
/// as exactly those characters instead of retitling the window. Ordinary text, including non-ASCII letters, is kept.
/// </summary>
internal static class TerminalText
{
    /// <summary>The string with every character a terminal could interpret shown escaped.</summary>
    public static string Sanitize(string? text)
    {
        if (string.IsNullOrEmpty(text)) return text ?? "";
        int i = 0;
        while (i < text.Length && !NeedsEscape(text, i)) i++;
        if (i == text.Length) return text;
        var sb = new StringBuilder(text.Length + 16);
        sb.Append(text, 0, i);
        for (; i < text.Length; i++)
        {
            char c = text[i];
            if (!NeedsEscape(text, i)) { sb.Append(c); continue; }
            switch (c)
            {
                case '\\': sb.Append(@"\\"); break;
                case '\x1b': sb.Append(@"\e"); break;
                case '\a': sb.Append(@"\a"); break;
                case '\b': sb.Append(@"\b"); break;
                case '\t': sb.Append(@"\t"); break;
                case '\n': sb.Append(@"\n"); break;
                case '\r': sb.Append(@"\r"); break;
                case '\f': sb.Append(@"\f"); break;
                case '\v': sb.Append(@"\v"); break;
                default:
                    if (c < 0x80) sb.Append(@"\x").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                    else sb.Append(@"\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    break;
            }
        }
        return sb.ToString();
    }

    /// <summary>
    /// Serialized JSON with the characters <see cref="Sanitize"/> escapes that a JSON encoder may leave raw (C1
    /// controls, DEL, bidi and invisible formatting characters, lone surrogates) written as <c>\uXXXX</c> escapes. The
    /// decoded values stay exact; only their spelling changes. Such characters can only occur inside JSON strings.
    /// </summary>
    public static string EscapeJson(string json)
    {
        StringBuilder? sb = null;
        for (int i = 0; i < json.Length; i++)
        {
            char c = json[i];
            bool escape = c != '\\' && c >= 0x20 && NeedsEscape(json, i);
            if (!escape) { sb?.Append(c); continue; }
            sb ??= new StringBuilder(json.Length + 16).Append(json, 0, i);
            sb.Append(@"\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
        }
        return sb?.ToString() ?? json;
    }

    private static bool NeedsEscape(string s, int i)
    {
        char c = s[i];
        if (c == '\\' || c < 0x20 || c == 0x7f) return true;
        if (c < 0x80) return false;
        if (c <= 0x9f) return true; // C1 controls (CSI, OSC, NEL...)
        if (char.IsHighSurrogate(c)) return i + 1 >= s.Length || !char.IsLowSurrogate(s[i + 1]);
        if (char.IsLowSurrogate(c)) return i == 0 || !char.IsHighSurrogate(s[i - 1]);
        return c is '\u061c' or '\u200b' or '\u200c' or '\u200d' or '\u200e' or '\u200f' or '\u2028' or '\u2029' or '\ufeff'
            or (>= '\u202a' and <= '\u202e') or (>= '\u2060' and <= '\u2069') or (>= '\ufff9' and <= '\ufffb');
    }
}
