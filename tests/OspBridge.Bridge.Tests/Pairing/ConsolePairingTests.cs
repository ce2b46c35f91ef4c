using OspBridge.Bridge.Pairing;

namespace OspBridge.Bridge.Tests.Pairing;

public sealed class ConsolePairingTests
{
    [Fact]
    public void RedirectedOutputGetsExactlyThePinLine()
    {
        var output = new StringWriter();
        PinDisplay.Write(output, "0614-8854-8833", "e51000af1", decorate: false);
        Assert.Equal("PIN: 0614-8854-8833" + Environment.NewLine, output.ToString());
    }

    [Fact]
    public void TerminalOutputStartsWithThePinLineThenBigDigitsAndQr()
    {
        var output = new StringWriter();
        PinDisplay.Write(output, "012-345", "3039", decorate: true);
        var lines = output.ToString().Split(Environment.NewLine);
        Assert.Equal("PIN: 012-345", lines[0]);
        Assert.Contains(lines, l => l.Contains('█', StringComparison.Ordinal));
        // Half-block QR characters appear.
        Assert.Contains(lines, l => l.IndexOfAny(['▀', '▄']) >= 0);
    }

    [Fact]
    public void BigDigitsAreFiveRowsWithOneGlyphPerCharacter()
    {
        string big = PinDisplay.BigDigits("0123456789-");
        var rows = big.Split('\n');
        Assert.Equal(5, rows.Length);
        // 11 glyphs of 5 columns plus 2 spaces between; the last row's trailing blanks are trimmed.
        Assert.True(rows.Max(r => r.Length) <= 11 * 7);
        Assert.True(rows[2].Length >= 10 * 7); // the middle row includes the dash
        Assert.NotEqual(PinDisplay.BigDigits("1"), PinDisplay.BigDigits("7"));
        // Every digit has a distinct glyph.
        var glyphs = Enumerable.Range(0, 10).Select(d => PinDisplay.BigDigits(d.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToHashSet();
        Assert.Equal(10, glyphs.Count);
    }

    [Fact]
    public void QrIsSquareAndDependsOnThePayload()
    {
        var a = PinDisplay.Qr("e51000af1").TrimEnd('\n').Split('\n');
        var b = PinDisplay.Qr("e51000af2");
        Assert.True(a.Length >= 10);
        Assert.All(a, row => Assert.Equal(a[0].Length, row.Length));
        // Two modules per character row: width ≈ 2 × rows.
        Assert.InRange(a[0].Length, 2 * a.Length - 2, 2 * a.Length + 2);
        Assert.NotEqual(string.Join('\n', a), b.TrimEnd('\n'));
    }

    [Fact]
    public async Task PinOptionWinsOverStdin()
    {
        using var prompts = new ConsolePrompts(new StringReader("999\n"), new StringWriter(), interactive: false);
        Assert.Equal("0614-8854-8833", await prompts.ReadPinAsync(" 0614-8854-8833 ", "tv", CancellationToken.None));
    }

    [Fact]
    public async Task PinIsOneStdinLineWithPromptOnlyOnATerminal()
    {
        var prompt = new StringWriter();
        using (var quiet = new ConsolePrompts(new StringReader("123-456\nnext\n"), prompt, interactive: false))
        {
            Assert.Equal("123-456", await quiet.ReadPinAsync(null, "tv", CancellationToken.None));
            Assert.Equal("", prompt.ToString());
        }
        using var loud = new ConsolePrompts(new StringReader(" 123-456 \n"), prompt, interactive: true);
        Assert.Equal("123-456", await loud.ReadPinAsync(null, "Kitchen TV", CancellationToken.None));
        Assert.Contains("Kitchen TV", prompt.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task EndOfInputIsNoPin()
    {
        using var prompts = new ConsolePrompts(new StringReader(""), new StringWriter(), interactive: false);
        Assert.Null(await prompts.ReadPinAsync(null, "tv", CancellationToken.None));
    }

    [Fact]
    public async Task ConsentNeedsAcceptAllOrATerminalYes()
    {
        using (var headless = new ConsolePrompts(new StringReader("y\n"), new StringWriter(), interactive: false))
        {
            Assert.False(await headless.ConsentAsync(acceptAll: false, "phone", "abc", "fp", CancellationToken.None));
            Assert.True(await headless.ConsentAsync(acceptAll: true, "phone", "abc", "fp", CancellationToken.None));
        }
        using (var yes = new ConsolePrompts(new StringReader("y\n"), new StringWriter(), interactive: true))
            Assert.True(await yes.ConsentAsync(acceptAll: false, "phone", "abc", "fp", CancellationToken.None));
        using var no = new ConsolePrompts(new StringReader("\n"), new StringWriter(), interactive: true);
        Assert.False(await no.ConsentAsync(acceptAll: false, "phone", "abc", "fp", CancellationToken.None));
    }
}
