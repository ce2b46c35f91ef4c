using System.Text;
using QRCoder;

namespace OspBridge.Bridge.Pairing;

/// <summary>
/// How a screenless agent presents a PIN on its console: always the one machine-readable line
/// <c>PIN: &lt;grouped digits&gt;</c>; on a terminal also the digits in large type and a QR code of the spec's QR
/// payload (the PSK as ASCII hex).
/// </summary>
internal static class PinDisplay
{
    // A 5-row block font for 0-9 and '-'; every glyph 5 columns wide.
    private static readonly string[][] Glyphs =
    [
        ["█████", "█   █", "█   █", "█   █", "█████"], // 0
        ["  ██ ", "   █ ", "   █ ", "   █ ", "  ███"], // 1
        ["█████", "    █", "█████", "█    ", "█████"], // 2
        ["█████", "    █", " ████", "    █", "█████"], // 3
        ["█   █", "█   █", "█████", "    █", "    █"], // 4
        ["█████", "█    ", "█████", "    █", "█████"], // 5
        ["█████", "█    ", "█████", "█   █", "█████"], // 6
        ["█████", "    █", "   █ ", "  █  ", "  █  "], // 7
        ["█████", "█   █", "█████", "█   █", "█████"], // 8
        ["█████", "█   █", "█████", "    █", "█████"], // 9
    ];

    private static readonly string[] Dash = ["     ", "     ", " ███ ", "     ", "     "];

    /// <summary>The machine-readable line (scripts read it from the agent's stdout).</summary>
    public static string PinLine(string groupedDigits) => "PIN: " + groupedDigits;

    /// <summary>Renders <paramref name="groupedDigits"/> (digits and dashes) in 5-row block letters.</summary>
    public static string BigDigits(string groupedDigits)
    {
        var rows = new StringBuilder[5];
        for (int r = 0; r < 5; r++) rows[r] = new StringBuilder();
        foreach (char c in groupedDigits)
        {
            string[]? glyph = c is >= '0' and <= '9' ? Glyphs[c - '0'] : c == '-' ? Dash : null;
            if (glyph is null) continue;
            for (int r = 0; r < 5; r++) rows[r].Append(glyph[r]).Append("  ");
        }
        return string.Join('\n', rows.Select(r => r.ToString().TrimEnd()));
    }

    /// <summary>A QR code of <paramref name="payload"/> drawn with half-block characters (two modules per character row).</summary>
    public static string Qr(string payload)
    {
        using var generator = new QRCodeGenerator();
        using var data = generator.CreateQrCode(payload, QRCodeGenerator.ECCLevel.M);
        using var ascii = new AsciiQRCode(data);
        return ascii.GetGraphicSmall(drawQuietZones: true, invert: false, endOfLine: "\n");
    }

    /// <summary>
    /// Writes the presentation to <paramref name="output"/> and flushes: the <c>PIN:</c> line first (so a script
    /// sees it at once), then, when <paramref name="decorate"/> (stdout is a terminal), big digits and the QR code.
    /// </summary>
    public static void Write(TextWriter output, string groupedDigits, string qrPayload, bool decorate)
    {
        lock (output)
        {
            output.WriteLine(PinLine(groupedDigits));
            output.Flush();
            if (!decorate) return;
            output.WriteLine();
            output.WriteLine(BigDigits(groupedDigits));
            output.WriteLine();
            output.WriteLine(Qr(qrPayload));
            output.WriteLine("Enter this PIN on the other device (or scan the code).");
            output.Flush();
        }
    }
}
