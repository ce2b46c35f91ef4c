using OspBridge.Media.Formats;
using OspBridge.Media.Writers;

namespace OspBridge.Media.Tests.Formats;

public class OggOpusTests
{
    /// <summary>A CELT-only fullband 20 ms packet (TOC config 31, code 0) with <paramref name="size"/> octets.</summary>
    internal static byte[] OpusPacket20ms(int size, byte fill)
    {
        var p = new byte[size];
        p[0] = 31 << 3;
        for (int i = 1; i < size; i++)
            p[i] = fill;
        return p;
    }

    [Theory]
    [InlineData(0xF8, 960)]        // CELT 20 ms, one frame
    [InlineData(0xF9, 1920)]       // CELT 20 ms, two frames (code 1)
    [InlineData(0x08, 960)]        // SILK NB 20 ms
    [InlineData(0x18, 2880)]       // SILK NB 60 ms
    [InlineData(0x78, 960)]        // hybrid FB 20 ms
    [InlineData(0xE0, 120)]        // CELT 2.5 ms
    public void Toc_gives_the_duration(byte toc, int samples) => Assert.Equal(samples, OpusPacket.GetSampleCount([toc, 0]));

    [Fact]
    public void Toc_code3_reads_the_frame_count_and_refuses_over_120ms()
    {
        Assert.Equal(960 * 3, OpusPacket.GetSampleCount([0xFB, 3]));
        Assert.Equal(0, OpusPacket.GetSampleCount([0xFB, 7])); // 140 ms
        Assert.Equal(0, OpusPacket.GetSampleCount([0xFB]));
        Assert.Equal(0, OpusPacket.GetSampleCount([]));
    }

    [Fact]
    public void Crc_matches_the_ogg_reference_for_a_known_page()
    {
        // Ogg's CRC-32 (poly 04C11DB7, init 0, not reflected, no final xor) of ASCII "123456789", worked out with a
        // separate bit-at-a-time implementation (no table): 0x89A1897F. ffprobe reading our files (OggOpusFfprobeTests)
        // is the independent check that real readers accept the pages.
        Assert.Equal(0x89A1897Fu, OggCrc.Update(0, "123456789"u8));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(13)]
    [InlineData(100_000)]
    public async Task Writer_output_reads_back_packet_for_packet(int piece)
    {
        var ms = new MemoryStream();
        var packets = new List<byte[]>();
        await using (var w = new OggOpusWriter(ms, channels: 2, preSkip: 312, leaveOpen: true))
        {
            for (int i = 0; i < 50; i++)
            {
                var p = OpusPacket20ms(i == 7 ? 600 : 40 + i, (byte)i); // one packet over 255 octets: lacing 255,255,90
                packets.Add(p);
                Assert.True(await w.WriteAsync(p));
            }
            Assert.Equal(50 * 960, w.Samples);
        }
        byte[] file = ms.ToArray();
        var reader = new OggOpusReader();
        var got = new List<(byte[] P, long Pos)>();
        for (int i = 0; i < file.Length; i += piece)
        {
            var chunk = file.AsSpan(i, Math.Min(piece, file.Length - i));
            while (!chunk.IsEmpty)
            {
                int n = reader.Write(chunk);
                chunk = chunk[n..];
                while (reader.TryRead(out var p, out long pos))
                    got.Add((p.ToArray(), pos));
            }
        }
        Assert.Equal(2, reader.Channels);
        Assert.Equal(312, reader.PreSkip);
        Assert.Equal(0, reader.BadPages);
        Assert.Equal(packets.Count, got.Count);
        for (int i = 0; i < packets.Count; i++)
        {
            Assert.Equal(packets[i], got[i].P);
            Assert.Equal(i * 960L, got[i].Pos);
        }
    }

    [Fact]
    public async Task A_corrupted_page_is_skipped_by_crc_and_the_rest_still_reads()
    {
        var ms = new MemoryStream();
        await using (var w = new OggOpusWriter(ms, leaveOpen: true))
        {
            for (int i = 0; i < 10; i++)
                await w.WriteAsync(OpusPacket20ms(50, (byte)i));
        }
        byte[] file = ms.ToArray();
        // Pages: OpusHead (27+1+19), OpusTags (27+1+25), then 10 pages of 27+1+50. Flip a data byte of audio page 3.
        int page3 = 47 + 53 + 2 * 78;
        file[page3 + 40] ^= 0xFF;
        var reader = new OggOpusReader();
        reader.Write(file);
        int count = 0;
        while (reader.TryRead(out _, out _))
            count++;
        Assert.Equal(1, reader.BadPages);
        Assert.Equal(9, count);
    }
}
