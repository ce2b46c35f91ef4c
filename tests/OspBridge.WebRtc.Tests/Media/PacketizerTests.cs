using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Tests.Rtp;
using OspBridge.Testing;

namespace OspBridge.WebRtc.Tests.Media;

/// <summary>Annex B splitting, H.264/H.265/Opus/G.711 packetizers: golden STAP-A/FU-A layouts (RFC 6184 §5.7.1, §5.8), round trips through the depacketizers.</summary>
public class PacketizerTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly byte[] Sps = [0x67, 0x42, 0xc0, 0x1f, 0xda];
    private static readonly byte[] Pps = [0x68, 0xce, 0x3c, 0x80];

    private sealed class Collect : IRtpPayloadSink
    {
        public List<(byte[] Payload, bool Marker)> Packets { get; } = [];

        public void OnPayload(ReadOnlySpan<byte> payload, bool marker) => Packets.Add((payload.ToArray(), marker));
    }

    private static byte[] AnnexB4(params byte[][] nals) => [.. nals.SelectMany(n => new byte[] { 0, 0, 0, 1 }.Concat(n))];

    [Fact]
    public void Annex_b_splits_three_and_four_byte_start_codes_and_strips_trailing_zeros()
    {
        byte[] data = [0xff, 0x00, 0x00, 0x00, 0x01, 0x67, 0x01, 0x00, 0x00, 0x01, 0x68, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x65, 0x03, 0x04];
        var nals = new List<byte[]>();
        foreach (var nal in OspBridge.WebRtc.Media.AnnexB.NalUnits(data))
            nals.Add(nal.ToArray());
        Assert.Equal(3, nals.Count);
        Assert.Equal(new byte[] { 0x67, 0x01 }, nals[0]);
        Assert.Equal(new byte[] { 0x68, 0x02 }, nals[1]);
        Assert.Equal(new byte[] { 0x65, 0x03, 0x04 }, nals[2]);
        Assert.Equal(0, OspBridge.WebRtc.Media.AnnexB.Count([1, 2, 3, 0, 0]));
        Assert.Equal(0, OspBridge.WebRtc.Media.AnnexB.Count([0, 0, 1]));
        Assert.Equal(0, OspBridge.WebRtc.Media.AnnexB.Count(default));
    }

    [Fact]
    public void Sps_pps_and_a_small_idr_go_in_one_stap_a_with_the_rfc_6184_layout()
    {
        byte[] idr = [0x65, 0x88, 0x84, 0x21];
        var sink = new Collect();
        Assert.Equal(1, new H264Packetizer().Packetize(AnnexB4(Sps, Pps, idr), 1200, sink));
        // STAP-A (§5.7.1): F=0 NRI=3 type 24 = 0x78, then 16-bit size + NAL unit for each.
        byte[] expected = [0x78, 0x00, 0x05, .. Sps, 0x00, 0x04, .. Pps, 0x00, 0x04, .. idr];
        Assert.Equal(expected, sink.Packets[0].Payload);
        Assert.True(sink.Packets[0].Marker);
    }

    [Fact]
    public void A_large_nal_unit_becomes_fu_a_with_the_rfc_6184_headers()
    {
        byte[] idr = [0x65, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
        var sink = new Collect();
        // body 10 octets, room 6 - 2 = 4 per fragment -> 3 fragments of near-equal size 4, 4, 2
        Assert.Equal(3, new H264Packetizer().Packetize(AnnexB4(idr), 6, sink));
        // FU indicator (§5.8): F, NRI of the unit, type 28 = 0x7c; FU header S|E|R|type 5.
        Assert.Equal(new byte[] { 0x7c, 0x85, 1, 2, 3, 4 }, sink.Packets[0].Payload);
        Assert.Equal(new byte[] { 0x7c, 0x05, 5, 6, 7, 8 }, sink.Packets[1].Payload);
        Assert.Equal(new byte[] { 0x7c, 0x45, 9, 10 }, sink.Packets[2].Payload);
        Assert.Equal(new[] { false, false, true }, sink.Packets.Select(p => p.Marker));
    }

    [Fact]
    public void Access_unit_delimiters_and_filler_are_not_sent_and_marker_is_on_the_last_packet()
    {
        byte[] aud = [0x09, 0xf0], filler = [0x0c, 0xff, 0xff], p1 = [0x41, 1, 2, 3, 4, 5], p2 = [0x01, 6, 7, 8, 9, 10];
        var sink = new Collect();
        // max 8: p1 alone (6) fits, p1 + p2 in a STAP-A (1 + 8 + 8) does not -> two single NAL unit packets
        Assert.Equal(2, new H264Packetizer().Packetize(AnnexB4(aud, p1, filler, p2), 8, sink));
        Assert.Equal(p1, sink.Packets[0].Payload);
        Assert.Equal(p2, sink.Packets[1].Payload);
        Assert.Equal(new[] { false, true }, sink.Packets.Select(p => p.Marker));
    }

    [Fact]
    public void H265_aggregation_and_fragmentation_headers_follow_rfc_7798()
    {
        byte[] vps = [0x40, 0x01, 0x0c], sps = [0x42, 0x01, 0x01], pps = [0x44, 0x01, 0xc1];
        byte[] idr = [0x26, 0x01, 1, 2, 3, 4, 5, 6];
        var sink = new Collect();
        Assert.Equal(1, new H265Packetizer().Packetize(AnnexB4(vps, sps, pps), 100, sink));
        // AP (§4.4.2): type 48 -> 0x60 0x01 (LayerId 0, TID 1)
        byte[] ap = [0x60, 0x01, 0, 3, .. vps, 0, 3, .. sps, 0, 3, .. pps];
        Assert.Equal(ap, sink.Packets[0].Payload);
        sink.Packets.Clear();
        Assert.Equal(2, new H265Packetizer().Packetize(AnnexB4(idr), 6, sink));
        // FU (§4.4.3): payload header type 49 -> 0x62 0x01, FU header S|E|FuType 19
        Assert.Equal(new byte[] { 0x62, 0x01, 0x80 | 19, 1, 2, 3 }, sink.Packets[0].Payload);
        Assert.Equal(new byte[] { 0x62, 0x01, 0x40 | 19, 4, 5, 6 }, sink.Packets[1].Payload);
        Assert.True(sink.Packets[1].Marker);
    }

    [Fact]
    public void Audio_is_one_frame_per_packet_and_oversized_frames_are_refused()
    {
        var sink = new Collect();
        byte[] opus = [0xfc, 1, 2, 3];
        Assert.Equal(1, new OpusPacketizer().Packetize(opus, 1200, sink));
        Assert.Equal(opus, sink.Packets[0].Payload);
        Assert.False(sink.Packets[0].Marker);
        Assert.Equal(0, new G711Packetizer(MediaCodec.Pcmu).Packetize(new byte[161], 160, sink));
        Assert.Equal(1, RtpPacketizer.Create(MediaCodec.Pcma).Packetize(new byte[160], 160, sink));
        Assert.Equal(0, new H264Packetizer().Packetize(AnnexB4(Sps), 2, sink)); // below MinimumPayloadSize
        var d = new OpusDepacketizer();
        Assert.True(d.TryAdd(opus, 7, 960, false, out var frame, out var info));
        Assert.Equal(opus, frame.ToArray());
        Assert.Equal(960u, info.Timestamp);
        Assert.False(d.TryAdd([], 8, 1920, false, out _, out _));
    }

    private static byte[] RandomNal(Random rnd, int length, bool h265)
    {
        var nal = new byte[length];
        rnd.NextBytes(nal);
        for (int i = 0; i < nal.Length; i++)
        {
            if (nal[i] == 0)
                nal[i] = 1; // no start-code emulation inside the unit (the encoder's emulation prevention)
        }
        if (h265)
        {
            int type = rnd.Next(0, 32);
            nal[0] = (byte)(type << 1);
            if (length > 1)
                nal[1] = 1; // TID 1
        }
        else
        {
            int type = rnd.Next(1, 24);
            if (type is 9 or 12)
                type = 1;
            nal[0] = (byte)((rnd.Next(4) << 5) | type);
        }
        return nal;
    }

    [Theory]
    [InlineData(false, 61841)]
    [InlineData(true, 77981)]
    public void Random_access_units_round_trip_through_packetizer_and_depacketizer(bool h265, int seed)
    {
        var rnd = new Random(seed);
        RtpPacketizer packetizer = h265 ? new H265Packetizer() : new H264Packetizer();
        IRtpDepacketizer depacketizer = h265 ? new H265Depacketizer() : new H264Depacketizer();
        var buffer = new byte[1500];
        ushort seq = 65000; // crosses the sequence wrap
        int packets = 0, aggregates = 0, fragments = 0, big = 0;
        for (int unit = 0; unit < 300; unit++)
        {
            int count = rnd.Next(1, 8);
            var nals = new byte[count][];
            for (int i = 0; i < count; i++)
            {
                int length = rnd.Next(10) switch
                {
                    0 => rnd.Next(65_536, 200_000),
                    < 5 => rnd.Next(h265 ? 2 : 1, 40),
                    _ => rnd.Next(40, 5000),
                };
                nals[i] = RandomNal(rnd, length, h265);
                if (length > 65_535)
                    big++;
            }
            // a mix of 3- and 4-byte start codes in the input
            var input = new List<byte>();
            foreach (var n in nals)
            {
                input.AddRange(rnd.Next(2) == 0 ? new byte[] { 0, 0, 1 } : new byte[] { 0, 0, 0, 1 });
                input.AddRange(n);
            }
            int maxPayload = rnd.Next(packetizer.MinimumPayloadSize, 1400);
            uint timestamp = (uint)(unit * 3000);
            Assert.True(packetizer.Begin(input.ToArray(), maxPayload));
            bool done = false;
            while (packetizer.TryWriteNext(buffer, out int written, out bool marker))
            {
                Assert.False(done);
                Assert.InRange(written, 1, maxPayload);
                int type = h265 ? (buffer[0] >> 1) & 0x3f : buffer[0] & 0x1f;
                if (type == (h265 ? 48 : 24))
                    aggregates++;
                if (type == (h265 ? 49 : 28))
                    fragments++;
                packets++;
                done = depacketizer.TryAdd(buffer.AsSpan(0, written), seq++, timestamp, marker, out var au, out var info);
                if (done)
                {
                    Assert.True(marker);
                    Assert.Equal(AnnexB4(nals), au.ToArray());
                    Assert.Equal(timestamp, info.Timestamp);
                }
            }
            Assert.True(done, $"unit {unit} did not complete");
        }
        output.WriteLine($"{packets} packets, {aggregates} aggregation, {fragments} fragments, {big} NAL units > 64 KB");
        Assert.Equal(0, depacketizer.DroppedFrames);
        Assert.True(aggregates > 50 && fragments > 1000 && big > 20);
    }

    [Fact]
    public void Packetizing_allocates_nothing_per_packet()
    {
        var rnd = new Random(5);
        byte[] au = [.. AnnexB4(Sps, Pps, RandomNal(rnd, 100_000, false), RandomNal(rnd, 300, false))];
        var p = new H264Packetizer();
        var buffer = new byte[1200];
        ReadOnlyMemory<byte> memory = au;
        p.Begin(memory, 1188);
        while (p.TryWriteNext(buffer, out _, out _))
        {
        }
        int packets = 0;
        long allocated = Allocations.LeastOf(3, () =>
        {
            packets = 0;
            for (int i = 0; i < 20; i++)
            {
                p.Begin(memory, 1188);
                while (p.TryWriteNext(buffer, out _, out _))
                    packets++;
            }
        });
        Assert.True(packets > 1500, $"{packets} packets");
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Annex_b_splitter_survives_mutated_input()
    {
        var rnd = new Random(1234);
        byte[] seed = AnnexB4(Sps, Pps, [0x65, 1, 2, 3, 0, 0, 3, 1]);
        var buf = new byte[4096];
        var p = new H264Packetizer();
        var out1 = new byte[64];
        for (int i = 0; i < 20_000; i++)
        {
            RtpFuzzTests.Mutate(rnd, seed, buf, out int len);
            int total = 0;
            foreach (var nal in OspBridge.WebRtc.Media.AnnexB.NalUnits(buf.AsSpan(0, len)))
            {
                Assert.True(nal.Length > 0);
                total += nal.Length;
            }
            Assert.True(total <= len);
            if (p.Begin(buf.AsMemory(0, len), 64))
            {
                int n = 0;
                while (p.TryWriteNext(out1, out int w, out _) && n++ < 10_000)
                    Assert.InRange(w, 1, 64);
            }
        }
    }
}
