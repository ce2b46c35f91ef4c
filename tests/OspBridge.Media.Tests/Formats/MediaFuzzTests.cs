using System.Diagnostics;
using OspBridge.Media.Formats;
using OspBridge.Media.Rtsp;
using OspBridge.Media.Writers;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Tests.Formats;

/// <summary>Mutation fuzzing (fixed seeds) of every parser in OspBridge.Media: no throw, bounded memory and time.</summary>
public class MediaFuzzTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static byte[] Mutate(Random rng, byte[] seed)
    {
        var d = (byte[])seed.Clone();
        int edits = rng.Next(1, 8);
        for (int e = 0; e < edits && d.Length > 0; e++)
        {
            switch (rng.Next(5))
            {
                case 0: d[rng.Next(d.Length)] = (byte)rng.Next(256); break;
                case 1: d[rng.Next(d.Length)] ^= (byte)(1 << rng.Next(8)); break;
                case 2: d = d[..rng.Next(d.Length)]; break;
                case 3: { int at = rng.Next(d.Length); d = [.. d[..at], 0, 0, 1, .. d[at..]]; break; }
                default: { int at = rng.Next(d.Length); d = [.. d[..at], .. d[Math.Min(d.Length, at + rng.Next(1, 40))..]]; break; }
            }
        }
        return d;
    }

    [Fact]
    public void AnnexB_reader_and_sps_parser_survive_mutations()
    {
        var rng = new Random(4711);
        byte[] seed = H264TestStreams.Stream(12, true, out _);
        var sw = Stopwatch.StartNew();
        long units = 0;
        for (int i = 0; i < 20_000; i++)
        {
            byte[] d = Mutate(rng, seed);
            var reader = new AnnexBAccessUnitReader(maxAccessUnitSize: 4096);
            int piece = rng.Next(1, 300);
            for (int o = 0; o < d.Length; o += piece)
            {
                reader.Write(d.AsSpan(o, Math.Min(piece, d.Length - o)));
                while (reader.TryRead(out var au, out _))
                {
                    units++;
                    foreach (var nal in new AnnexBNalUnits(au))
                    {
                        if (H264SpsInfo.TryParse(nal, out var sps))
                            Assert.True(sps.Width > 0 && sps.Height > 0);
                    }
                }
                Assert.True(reader.BufferedBytes <= 4096 + 8 + 300);
            }
            reader.TryReadFinal(out _, out _);
            if (H264SpsInfo.TryParse(Mutate(rng, H264TestStreams.Sps640x360()), out var mutated))
                Assert.True(mutated.Width is > 0 and <= 16384 && mutated.Height is > 0 and <= 32768);
        }
        output.WriteLine($"{units} access units in {sw.ElapsedMilliseconds} ms");
        Assert.True(units > 20_000);
    }

    [Fact]
    public async Task Ogg_opus_reader_survives_mutations()
    {
        var ms = new MemoryStream();
        await using (var w = new OggOpusWriter(ms, leaveOpen: true))
        {
            for (int i = 0; i < 20; i++)
                await w.WriteAsync(OggOpusTests.OpusPacket20ms(i == 3 ? 700 : 30 + i, (byte)i));
        }
        byte[] seed = ms.ToArray();
        var rng = new Random(7845);
        long packets = 0, bad = 0;
        for (int i = 0; i < 5_000; i++)
        {
            byte[] d = Mutate(rng, seed);
            var reader = new OggOpusReader();
            var span = d.AsSpan();
            int guard = 0;
            while (!span.IsEmpty && guard++ < 10_000)
            {
                int n = reader.Write(span[..Math.Min(span.Length, rng.Next(1, 2000))]);
                span = span[n..];
                while (reader.TryRead(out var p, out _))
                {
                    packets++;
                    Assert.True(p.Length <= OggOpusReader.MaxPacketSize);
                }
            }
            Assert.True(guard < 10_000);
            bad += reader.BadPages;
        }
        output.WriteLine($"{packets} packets, {bad} bad pages");
        Assert.True(packets > 10_000);
        Assert.True(bad > 1_000);
    }

    [Fact]
    public void Rtsp_parsers_survive_mutations()
    {
        byte[][] seeds =
        [
            "RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Type: application/sdp\r\nContent-Length: 10\r\n\r\n0123456789"u8.ToArray(),
            "RTSP/1.0 401 Unauthorized\r\nCSeq: 1\r\nWWW-Authenticate: Digest realm=\"r\", nonce=\"n\", qop=\"auth\"\r\n\r\n"u8.ToArray(),
            "GET_PARAMETER rtsp://h/x RTSP/1.0\r\nCSeq: 9\r\nSession: 1234;timeout=60\r\n\r\n"u8.ToArray(),
            [0x24, 0, 0, 4, 0x80, 0x60, 0, 1],
        ];
        var rng = new Random(2326);
        int complete = 0;
        for (int i = 0; i < 50_000; i++)
        {
            byte[] d = Mutate(rng, seeds[i % seeds.Length]);
            if (RtspResponse.TryRead(d, out var r, out int n) == RtspReadStatus.Complete)
            {
                complete++;
                Assert.InRange(n, 1, d.Length);
                var auth = new RtspAuthenticator("u", "p");
                if (auth.TrySetChallenge(r!.Headers.GetAll("WWW-Authenticate")))
                    Assert.NotNull(auth.GetAuthorization("DESCRIBE", "rtsp://h/x"));
                RtspSessionDescription.Parse(r.Body.Span);
            }
            if (RtspRequest.TryRead(d, out _, out n) == RtspReadStatus.Complete)
                Assert.InRange(n, 1, d.Length);
            if (RtspInterleavedFrame.TryRead(d, out _, out var payload, out n) == RtspReadStatus.Complete)
            {
                Assert.Equal(n, payload.Length + 4);
                var rx = new RtpTrackReceiver(MediaCodec.H264, 90000, -1, null, null);
                rx.OnPacket(payload, _ => { });
            }
        }
        Assert.True(complete > 1_000);
    }

    [Fact]
    public void Sdp_parser_survives_mutations()
    {
        string sdp = "v=0\r\na=control:*\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0LAHtoCgL/lwEQAAAMABAAAAwDyPFi6gA==,aM4PyA==\r\na=control:stream=0\r\nm=audio 0 RTP/AVP 97\r\na=rtpmap:97 opus/48000/2\r\n";
        byte[] seed = System.Text.Encoding.ASCII.GetBytes(sdp);
        var rng = new Random(8866);
        for (int i = 0; i < 20_000; i++)
        {
            var d = RtspSessionDescription.Parse(Mutate(rng, seed));
            Assert.True(d.Media.Count <= 16);
        }
    }
}
