using System.Text.RegularExpressions;
using OspBridge.PeerFetch.Wire;
using OspBridge.Testing;

namespace OspBridge.PeerFetch.Tests;

/// <summary>docs/peerfetch.md §2.8 lists the v2 golden vectors; the encoders must produce exactly those bytes.</summary>
public partial class GoldenBytesTests
{
    internal static Dictionary<string, byte[]> Encoded() => new()
    {
        ["hello"] = HelloFrame.Create(initiator: true, PeerFetchSettings.Default),
        ["request"] = HeadersFrame.Create(1, [new(":method", "GET"), new(":path", "/api/status"), new(":authority", "device.local"), new("accept", "application/json")], endStream: true),
        ["response"] = HeadersFrame.Create(1, [new(":status", "200"), new("content-type", "application/json")], endStream: false),
        ["data"] = DataFrame.Create(1, """{"ok":true}"""u8, endStream: true),
        ["window"] = WindowUpdateFrame.Create(0, 65536),
        ["reset"] = ResetFrame.Create(3, PeerFetchErrorCode.Cancel),
        ["pingack"] = PingFrame.Create(0x0102030405060708, ack: true),
        ["goaway"] = GoAwayFrame.Create(5, PeerFetchErrorCode.NoError, "bye"),
    };

    [GeneratedRegex(@"^golden (\w+): ([0-9a-f]+)$", RegexOptions.Multiline)]
    private static partial Regex GoldenLine();

    [Fact]
    public void Encoders_produce_the_documented_bytes()
    {
        var doc = File.ReadAllText(Path.Combine(RepoPaths.Root, "docs", "peerfetch.md"));
        var documented = GoldenLine().Matches(doc).ToDictionary(m => m.Groups[1].Value, m => Convert.FromHexString(m.Groups[2].Value));
        var encoded = Encoded();
        Assert.Equal(encoded.Keys.Order(), documented.Keys.Order());
        foreach (var (name, bytes) in encoded) Assert.True(documented[name].AsSpan().SequenceEqual(bytes), $"{name}: doc {Convert.ToHexStringLower(documented[name])} != {Convert.ToHexStringLower(bytes)}");
    }

    [Fact]
    public void Documented_bytes_parse_back()
    {
        var v = Encoded();
        Assert.True(FrameHeader.TryRead(v["hello"], out var h));
        Assert.True(HelloFrame.TryRead(h, v["hello"].AsSpan(FrameHeader.Size), out byte version, out bool initiator, out var settings));
        Assert.Equal(2, version);
        Assert.True(initiator);
        Assert.Equal(PeerFetchSettings.Default, settings);

        Assert.True(FrameHeader.TryRead(v["request"], out h));
        Assert.Equal((FrameType.Headers, FrameFlags.EndStream, 1u), (h.Type, h.Flags, h.StreamId));
        Assert.True(HeadersFrame.TryRead(h, v["request"].AsSpan(FrameHeader.Size), out var fields));
        Assert.Equal([":method", ":path", ":authority", "accept"], fields.Select(f => f.Key));
        Assert.Equal("/api/status", fields[1].Value);

        Assert.True(FrameHeader.TryRead(v["goaway"], out h));
        Assert.True(GoAwayFrame.TryRead(h, v["goaway"].AsSpan(FrameHeader.Size), out uint last, out var code, out string debug));
        Assert.Equal((5u, PeerFetchErrorCode.NoError, "bye"), (last, code, debug));

        Assert.True(FrameHeader.TryRead(v["pingack"], out h));
        Assert.True(PingFrame.TryRead(h, v["pingack"].AsSpan(FrameHeader.Size), out ulong opaque));
        Assert.Equal(0x0102030405060708ul, opaque);
        Assert.Equal(FrameFlags.EndStream, h.Flags);

        Assert.True(FrameHeader.TryRead(v["reset"], out h));
        Assert.True(ResetFrame.TryRead(h, v["reset"].AsSpan(FrameHeader.Size), out code));
        Assert.Equal(PeerFetchErrorCode.Cancel, code);

        Assert.True(FrameHeader.TryRead(v["window"], out h));
        Assert.True(WindowUpdateFrame.TryRead(v["window"].AsSpan(FrameHeader.Size), out uint inc));
        Assert.Equal(65536u, inc);
    }

    [Fact]
    public void Frame_header_read_is_transactional_on_partial_input()
    {
        foreach (var bytes in Encoded().Values)
        {
            for (int i = 0; i < bytes.Length; i++) Assert.False(FrameHeader.TryRead(bytes.AsSpan(0, i), out _));
            Assert.True(FrameHeader.TryRead(bytes, out var h));
            Assert.Equal(bytes.Length - FrameHeader.Size, h.Length);
        }
    }
}
