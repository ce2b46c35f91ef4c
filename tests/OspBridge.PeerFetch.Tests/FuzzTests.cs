using System.Text;
using OspBridge.PeerFetch.Core;
using OspBridge.PeerFetch.V1;
using OspBridge.PeerFetch.Wire;

namespace OspBridge.PeerFetch.Tests;

/// <summary>Mutation fuzzing (fixed seeds) of every v2 frame parser, the multiplexer core and the v1 JSON parsers.</summary>
public class FuzzTests
{
    private const int Iterations = 20_000;

    /// <summary>Real frames: the golden vectors plus a scripted session's wire (both directions).</summary>
    private static List<byte[]> Corpus()
    {
        var corpus = GoldenBytesTests.Encoded().Values.ToList();
        var p = new MuxTests.Pair(maxMessage: 4096);
        uint a = p.A.OpenStream([new(":method", "POST"), new(":path", "/x?q=1"), new(":authority", "d"), new("content-type", "text/plain")], endStream: false);
        p.A.SendData(a, new byte[5000], endStream: true);
        p.Pump();
        p.B.SendHeaders(a, [new(":status", "200"), new("x-a", "b")], endStream: false);
        p.B.SendData(a, new byte[300], false);
        p.B.SendHeaders(a, [new("x-trailer", "t")], endStream: true);
        uint b = p.A.OpenStream([new(":method", "GET"), new(":path", "/")], true);
        p.A.Reset(b, PeerFetchErrorCode.Cancel);
        p.A.Ping(1);
        p.Pump();
        p.B.Consume(a, 5000);
        p.B.GoAway(PeerFetchErrorCode.NoError, "done");
        p.Pump();
        corpus.AddRange(p.WireAtoB);
        corpus.AddRange(p.WireBtoA);
        return corpus;
    }

    private static byte[] Mutate(Random rnd, byte[] src)
    {
        var d = new List<byte>(src);
        int ops = 1 + rnd.Next(4);
        for (int o = 0; o < ops; o++)
        {
            switch (rnd.Next(7))
            {
                case 0: if (d.Count > 0) d[rnd.Next(d.Count)] ^= (byte)(1 << rnd.Next(8)); break;
                case 1: if (d.Count > 0) d[rnd.Next(d.Count)] = (byte)rnd.Next(256); break;
                case 2: if (d.Count > 0) { int at = rnd.Next(d.Count); d.RemoveRange(at, Math.Min(d.Count - at, 1 + rnd.Next(4))); } break;
                case 3: d.Insert(rnd.Next(d.Count + 1), (byte)rnd.Next(256)); break;
                case 4: if (d.Count > 3) { int i = rnd.Next(3); d[i] = (byte)rnd.Next(256); } break; // length field
                case 5: if (d.Count > 3) d[3] = (byte)rnd.Next(12); break; // frame type
                case 6: if (d.Count > 8) d[5 + rnd.Next(4)] = (byte)rnd.Next(256); break; // stream id
            }
        }
        return d.ToArray();
    }

    /// <summary>Every parser on one input: never throws; what parses re-encodes to a frame that parses the same.</summary>
    private static int ParseAll(byte[] input)
    {
        int accepted = 0;
        if (!FrameHeader.TryRead(input, out var h)) return 0;
        Assert.True(h.Length <= input.Length - FrameHeader.Size);
        var payload = input.AsSpan(FrameHeader.Size, h.Length);
        if (HelloFrame.TryRead(h, payload, out byte v, out bool init, out var s))
        {
            accepted++;
            var again = HelloFrame.Create(init, s);
            Assert.True(FrameHeader.TryRead(again, out var h2));
            Assert.True(HelloFrame.TryRead(h2, again.AsSpan(FrameHeader.Size), out _, out bool init2, out var s2));
            Assert.Equal((init, s), (init2, s2));
            _ = v;
        }
        if (HeadersFrame.TryRead(h, payload, out var fields))
        {
            accepted++;
            Assert.True(fields.Count <= HeadersFrame.MaxFields);
            var again = HeadersFrame.Create(h.StreamId, fields, false);
            Assert.True(FrameHeader.TryRead(again, out var h2));
            Assert.True(HeadersFrame.TryRead(h2, again.AsSpan(FrameHeader.Size), out var fields2));
            Assert.Equal(fields, fields2);
        }
        if (DataFrame.TryRead(h, payload, out _)) accepted++;
        if (WindowUpdateFrame.TryRead(payload, out uint inc)) { accepted++; Assert.InRange(inc, 1u, 0x7fff_ffffu); }
        if (ResetFrame.TryRead(h, payload, out _)) accepted++;
        if (PingFrame.TryRead(h, payload, out _)) accepted++;
        if (GoAwayFrame.TryRead(h, payload, out uint last, out _, out string debug)) { accepted++; Assert.True(last <= 0x7fff_ffff); Assert.True(debug.Length <= GoAwayFrame.MaxDebugLength); }
        return accepted;
    }

    [Fact]
    public void Frame_parsers_survive_mutations()
    {
        var corpus = Corpus();
        var rnd = new Random(1101);
        int accepted = 0;
        for (int i = 0; i < Iterations; i++) accepted += ParseAll(Mutate(rnd, corpus[rnd.Next(corpus.Count)]));
        Assert.True(accepted > Iterations / 10, $"only {accepted} mutated frames parsed: the mutations are too destructive to be useful");
    }

    [Fact]
    public void Frame_parsers_survive_random_bytes()
    {
        var rnd = new Random(1102);
        for (int i = 0; i < Iterations; i++)
        {
            var b = new byte[rnd.Next(64)];
            rnd.NextBytes(b);
            if (b.Length >= 3) { b[0] = 0; b[1] = 0; b[2] = (byte)Math.Max(0, b.Length - FrameHeader.Size); }
            ParseAll(b);
        }
    }

    [Fact]
    public void Multiplexer_survives_mutated_sessions_with_bounded_state()
    {
        var corpus = Corpus();
        var rnd = new Random(1103);
        for (int round = 0; round < 400; round++)
        {
            bool initiator = rnd.Next(2) == 0;
            var mux = new PeerFetchMux(new PeerFetchMuxOptions { IsInitiator = initiator, LocalSettings = PeerFetchSettings.Default with { MaxConcurrentStreams = 8 } });
            mux.Start(TimeSpan.Zero);
            mux.Receive(HelloFrame.Create(!initiator, PeerFetchSettings.Default), false, TimeSpan.Zero);
            if (initiator) mux.OpenStream([new(":method", "GET"), new(":path", "/")], endStream: false);
            for (int i = 0; i < 60 && mux.State != MuxState.Closed; i++)
            {
                var message = rnd.Next(4) == 0 ? corpus[rnd.Next(corpus.Count)] : Mutate(rnd, corpus[rnd.Next(corpus.Count)]);
                // Sometimes several frames in one message.
                if (rnd.Next(5) == 0) message = [.. message, .. corpus[rnd.Next(corpus.Count)]];
                mux.Receive(message, rnd.Next(50) == 0, TimeSpan.FromMilliseconds(i));
                int queued = 0;
                while (mux.TryPollMessage(out _)) queued++;
                while (mux.TryPollEvent(out var e))
                {
                    if (e.Type == MuxEventType.Data) mux.Consume(e.StreamId, e.Data.Length);
                }
                Assert.True(mux.ActiveStreams <= 8 + 1, "peer streams above MaxConcurrentStreams");
                Assert.True(queued < 2000);
            }
        }
    }

    [Fact]
    public void V1_parsers_survive_mutations()
    {
        string[] seeds =
        [
            """{"url":"http://localhost:8778/api/timeline?page=1","method":"GET"}""",
            """{"url":"ping?","method":"GET"}""",
            """{"url":"http://x/echo","method":"POST","json":{"a":[1,2,{"b":null}]},"data":"d"}""",
            """{"status":200,"content-type":"application/json","content-length":12}""",
            """{"status":202}""",
        ];
        var rnd = new Random(1104);
        int ok = 0;
        for (int i = 0; i < Iterations; i++)
        {
            var m = Mutate(rnd, Encoding.UTF8.GetBytes(seeds[rnd.Next(seeds.Length)]));
            if (V1Request.TryParse(m, out var r)) { ok++; Assert.NotNull(r.Url); Assert.True(V1Request.TryParse(Encoding.UTF8.GetBytes(r.ToJsonSafe()), out _)); }
            if (V1Header.TryParse(m, out var h)) { ok++; Assert.True(V1Header.TryParse(Encoding.UTF8.GetBytes(h.ToJson()), out var h2)); Assert.Equal(h.Status, h2.Status); }
        }
        Assert.True(ok > 100);
        // Deep nesting is refused, not a stack overflow.
        Assert.False(V1Request.TryParse(Encoding.UTF8.GetBytes("{\"url\":\"x\",\"json\":" + new string('[', 10_000) + new string(']', 10_000) + "}"), out _));
    }
}

internal static class V1RequestTestExtensions
{
    /// <summary>Re-encodes a parsed request; bodies that are not JSON go as data.</summary>
    public static string ToJsonSafe(this V1Request r)
    {
        try { return r.ToJson(); }
        catch (System.Text.Json.JsonException) { return (r with { ContentType = "text/plain" }).ToJson(); }
    }
}
